"""One module per vendor: pydantic wire models and an async httpx client. No Textual import here."""
