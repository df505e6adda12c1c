"""What the tests share, always imported as `from tests.helpers.<module> import ...`:

- `waiting.eventually`: wait on a condition with a deadline (never a bare sleep);
- `simulator.make_options`: options for a simulator on a free port (the `sim` fixtures in conftest.py use it), and
  `simulator.admin`: a call to its admin side;
- `table_rows`: the rows and columns the LiveTable tests (widget and model) share;
- `pane_host`: a single pane in a small Textual app over a Store the test fills;
- `snapshot_world`: the recorded world the snapshot tests and the screenshots show.
"""
