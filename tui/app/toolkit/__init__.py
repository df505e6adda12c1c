"""The pane toolkit: what every tab of the monitor is built from, so that each behaviour exists once.

    host.py        `PaneApp`: what a pane needs from the app that hosts it (the monitor and the test host both
                   implement it, from one mixin)
    actions.py     which actions a pane offers (`vendor_action`: its service must be on; a mutation in read-only
                   mode says so) for keys and palette alike, and how a mutation runs (ask, worker, toast)
    filter_box.py  `FilterBox`: `/` filters the focused table, Enter keeps the filter, Escape clears it
    cells.py       every formatter a table cell uses (ages, clocks, money, statuses, bars, events)
    export.py      ctrl+e: the shown table, as filtered and sorted, to a CSV or JSON-lines file

Nothing is imported here: the monitor imports `host` and `actions` before its first frame, the rest with the panes.
"""
