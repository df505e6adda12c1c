"""The live layer: normalized events, the Store that holds all state, and the realtime plumbing.

`events` defines the normalized `Event` and channel health, `store` the single place state lives (with
coalesced change feeds for the UI and headless consumers), `sse` a robust Server-Sent Events reader and
`backoff` the reconnect delays. Channels for each vendor build on these. No Textual import here.
"""
