"""Inside a sweep's trial: a script of your own joins a sweep.

    import fermion as fm
    lr = fm.trial.suggest("lr", default=1e-3)      # this trial's value for lr
    for epoch in range(epochs):
        ...
        fm.trial.report(val_loss, step=epoch)      # judged by the pruner, epoch by epoch

The sweep (`fermion sweep --command "python train.py" --param lr=loguniform:1e-5:1e-1
--metric val_loss --direction minimize`) starts each trial as a job with its options in
FERMION_TRIAL; `report` logs the sweep's metric (fm.log), which the sweep reads after
every epoch to prune a trial that falls behind (its job is stopped) and, at the end, to
pick the best. Outside a sweep, `suggest` gives the default and `report` logs the value,
so the script runs by hand too."""

from __future__ import annotations

import json
import os
from typing import Any

from fermion.errors import InvalidInput
from fermion.runtime import log

ENV = "FERMION_TRIAL"
NO_DEFAULT = object()


def _trial() -> dict[str, Any]:
    text = os.environ.get(ENV)
    return json.loads(text) if text else {}


def params() -> dict[str, Any]:
    """This trial's options: {name: value}; empty outside a sweep."""
    return dict(_trial().get("params", {}))


def number() -> int | None:
    """This trial's number in its sweep; None outside a sweep."""
    return _trial().get("number")


def suggest(name: str, default: Any = NO_DEFAULT) -> Any:
    """This trial's value for the option `name` (one of the sweep's --param), or the
    default outside a sweep."""
    found = params()
    if name in found:
        return found[name]
    if default is not NO_DEFAULT:
        return default
    given = ", ".join(found) or "none: this is not a sweep's trial"
    raise InvalidInput(
        f"the sweep searches no option {name!r} (it searches {given}); give a default"
    )


def report(value: float, step: int | None = None) -> None:
    """The sweep's metric after `step` (an epoch): what the pruner and the sweep judge."""
    log({_trial().get("metric", "objective"): float(value)}, step=step)
