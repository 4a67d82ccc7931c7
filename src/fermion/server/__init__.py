"""The Fermion server: REST API under /api/v1, owner of all state."""

from fermion.server.app import create_app

__all__ = ["create_app"]
