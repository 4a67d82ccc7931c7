"""The SDK's API token calls, mixed into `fermion.Client`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fermion.payloads import TokenCreate, TokenCreated, TokensPublic, build


class TokenCalls:
    _json: Callable[..., Any]
    _request: Callable[..., Any]

    def create_token(
        self,
        name: str,
        expires: str | None = None,
        *,
        read_only: bool = False,
        workspace: str | None = None,
    ) -> TokenCreated:
        """A new API token (`expires`: 30d, 12h, 90m; None: never), limited to reading
        (`read_only`) or to one `workspace` if asked. `.token` is its secret, given once."""
        body = build(
            TokenCreate, name=name, expires=expires, read_only=read_only, workspace=workspace
        ).model_dump()
        return TokenCreated.model_validate(self._json("POST", "/api/v1/tokens", json=body))

    def list_tokens(self) -> TokensPublic:
        return TokensPublic.model_validate(self._json("GET", "/api/v1/tokens"))

    def revoke_token(self, token_id: int) -> None:
        self._request("DELETE", f"/api/v1/tokens/{token_id}")
