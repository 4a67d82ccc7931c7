"""How long the SDK waits for the server."""

import httpx

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
LONG = httpx.Timeout(None, connect=5.0)  # ingest, uploads, predictions: as long as they take
