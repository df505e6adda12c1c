"""The live layer: normalized events, the Store that holds all state, and the realtime plumbing. It knows no vendor.

`events` defines the normalized `Event` and channel health, `store` the single place state lives (with
coalesced change feeds for the UI and headless consumers), `channel` the reconnect loop and the poller, `sse` a
robust Server-Sent Events reader, `backoff` the reconnect delays and `webhooks` the signed-webhook receiver.
`integration` is the interface each vendor implements (in tui/vendors/<vendor>/), and `hub` runs them: the
LiveHub, lifecycle plus a registry of integrations. No Textual import here.
"""
