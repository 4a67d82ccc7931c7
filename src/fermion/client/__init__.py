"""The Python SDK: `Client` over the REST API, and the local server launcher."""

from fermion.client.sdk import Client

__all__ = ["Client"]
