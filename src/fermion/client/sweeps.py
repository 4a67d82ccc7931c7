"""The SDK's sweep calls, mixed into `fermion.Client`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fermion.errors import InvalidInput
from fermion.payloads import (
    ParamSpace,
    SweepCreate,
    SweepPublic,
    SweepsPublic,
    build,
    describe_errors,
)


def spaces(params: dict[str, str | ParamSpace]) -> list[ParamSpace]:
    """{"lr": "loguniform:1e-4:1e-1", "batch_size": "choice:32,64"} -> the search space."""
    found = []
    for name, given in params.items():
        try:
            found.append(given if isinstance(given, ParamSpace) else ParamSpace.parse(name, given))
        except ValidationError as exc:
            raise InvalidInput(describe_errors(exc.errors())) from None
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    return found


class SweepCalls:
    _json: Callable[..., Any]
    _ship_code: Callable[[Path], str]

    def create_sweep(
        self,
        name: str,
        dataset: str | None,
        params: dict[str, str | ParamSpace],
        *,
        command: list[str] | None = None,
        workdir: str | Path | None = None,
        metric: str = "val_accuracy",
        direction: str = "maximize",
        trials: int = 12,
        parallel: int = 2,
        pruner: str = "median",
        seed: int = 0,
        **train: Any,
    ) -> SweepPublic:
        """Search `fermion train`'s options on `dataset`, or a script's (`command`, run in
        the files of `workdir`; it reads its options with fm.trial.suggest and reports
        `metric` with fm.trial.report). `params` maps an option to its range
        (uniform:LOW:HIGH, loguniform:LOW:HIGH, int:LOW:HIGH, choice:A,B,...); `train`
        holds what every trial shares (model, epochs...; for a command: cpu, memory)."""
        body = build(
            SweepCreate,
            name=name,
            dataset=dataset,
            command=command,
            params=spaces(params),
            metric=metric,
            direction=direction,
            trials=trials,
            parallel=parallel,
            pruner=pruner,
            seed=seed,
            train=train,
        )
        if command is not None and workdir is not None:
            body.code = self._ship_code(Path(workdir))
        return SweepPublic.model_validate(
            self._json("POST", "/api/v1/sweeps", json=body.model_dump(mode="json"))
        )

    def list_sweeps(self) -> SweepsPublic:
        return SweepsPublic.model_validate(self._json("GET", "/api/v1/sweeps"))

    def get_sweep(self, name: str) -> SweepPublic:
        return SweepPublic.model_validate(self._json("GET", f"/api/v1/sweeps/{name}"))

    def cancel_sweep(self, name: str) -> SweepPublic:
        return SweepPublic.model_validate(self._json("POST", f"/api/v1/sweeps/{name}/cancel"))

    def wait_sweep(
        self, name: str, timeout: float | None = None, poll_s: float = 1.0
    ) -> SweepPublic:
        """Block until the sweep has ended (or `timeout` seconds pass); returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            sweep = self.get_sweep(name)
            if sweep.status != "running" or (deadline is not None and time.monotonic() > deadline):
                return sweep
            time.sleep(poll_s)
