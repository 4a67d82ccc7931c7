"""The SDK's secret calls, mixed into `fermion.Client`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fermion.payloads import SecretPublic, SecretSet, SecretsPublic, build


class SecretCalls:
    _json: Callable[..., Any]
    _request: Callable[..., Any]

    def set_secret(self, name: str, value: str) -> SecretPublic:
        """Set (or replace) a secret; a job that names it gets it as $NAME."""
        body = build(SecretSet, value=value).model_dump()
        return SecretPublic.model_validate(self._json("PUT", f"/api/v1/secrets/{name}", json=body))

    def list_secrets(self) -> SecretsPublic:
        return SecretsPublic.model_validate(self._json("GET", "/api/v1/secrets"))

    def delete_secret(self, name: str) -> None:
        self._request("DELETE", f"/api/v1/secrets/{name}")
