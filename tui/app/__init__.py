"""The Textual app: screens, panes (one per tab) and the widgets they share. Reads the Store, never the network."""
