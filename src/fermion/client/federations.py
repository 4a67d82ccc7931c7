"""The SDK's federated training calls, mixed into `fermion.Client`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fermion.payloads import FederationCreate, FederationPublic, FederationsPublic, build


class FederationCalls:
    _json: Callable[..., Any]

    def create_federation(
        self, name: str, sites: dict[str, str], *, rounds: int = 10, **options: Any
    ) -> FederationPublic:
        """Train `name` on every site's dataset without moving any of them: `sites` maps a
        site to its dataset ({"hospital-a": "scans-a", ...}); `options` are
        FederationCreate's (model, local_epochs, strategy="fedprox", proximal_mu,
        privacy={"noise_multiplier": ..., "clipping_norm": ...}, cpu, memory...)."""
        body = build(FederationCreate, name=name, sites=sites, rounds=rounds, **options)
        return FederationPublic.model_validate(
            self._json("POST", "/api/v1/federations", json=body.model_dump(mode="json"))
        )

    def list_federations(self) -> FederationsPublic:
        return FederationsPublic.model_validate(self._json("GET", "/api/v1/federations"))

    def get_federation(self, name: str) -> FederationPublic:
        return FederationPublic.model_validate(self._json("GET", f"/api/v1/federations/{name}"))

    def cancel_federation(self, name: str) -> FederationPublic:
        return FederationPublic.model_validate(
            self._json("POST", f"/api/v1/federations/{name}/cancel")
        )

    def wait_federation(
        self, name: str, timeout: float | None = None, poll_s: float = 2.0
    ) -> FederationPublic:
        """Block until the federation has ended (or `timeout` seconds pass); returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            found = self.get_federation(name)
            if found.status != "running" or (deadline is not None and time.monotonic() > deadline):
                return found
            time.sleep(poll_s)
