"""The monitor's tabs, one pane each. Which tabs there are, in key order, is the app's (tui/app/app.py `TABS`):
the Overview, each vendor's tabs as its declaration names them (tui/vendors), then the Events."""
