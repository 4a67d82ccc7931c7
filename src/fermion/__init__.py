"""Fermion: a self-hostable AI platform.

    import fermion as fm
    dataset = fm.Dataset.from_local("digits")
    loader = fm.DataLoader(dataset, batch_size=32, num_workers=2)
    fm.log({"loss": loss.item()}, step=i)

Heavy modules (torch, datasets) load on first use, so `import fermion` stays fast for
the CLI and for processes that only talk to the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fermion.errors import (
    CapacityExceeded,
    Conflict,
    FermionError,
    Forbidden,
    InvalidInput,
    InvalidRecords,
    NotFound,
    PayloadTooLarge,
    ServerUnavailable,
    Unauthorized,
)

__version__ = "0.1.0"

__all__ = [
    "CapacityExceeded",
    "Client",
    "Conflict",
    "DataLoader",
    "Dataset",
    "FermionError",
    "Forbidden",
    "InvalidInput",
    "InvalidRecords",
    "NotFound",
    "PayloadTooLarge",
    "ServerUnavailable",
    "Unauthorized",
    "__version__",
    "checkpoint_dir",
    "keras",
    "log",
    "save_artifact",
    "trial",
]

_LAZY = {
    "Client": "fermion.client.sdk",
    "Dataset": "fermion.datasets.loading",
    "DataLoader": "fermion.datasets.loading",
    "log": "fermion.runtime",
    "save_artifact": "fermion.runtime",
    "checkpoint_dir": "fermion.runtime",
}

if TYPE_CHECKING:
    from fermion import keras, trial
    from fermion.client.sdk import Client
    from fermion.datasets.loading import DataLoader, Dataset
    from fermion.runtime import checkpoint_dir, log, save_artifact


def __getattr__(name: str) -> Any:
    import importlib

    if name in ("trial", "keras"):  # fm.trial.suggest(...), fm.keras.MetricsCallback()
        return importlib.import_module(f"fermion.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fermion' has no attribute {name!r}")
