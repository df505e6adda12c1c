"""Widgets shared by the panes. `table.LiveTable` is the table every pane uses: a line-API view over 100k rows, its
rows kept by `table_model.TableModel` and its columns sized by `table_layout` (neither imports Textual)."""
