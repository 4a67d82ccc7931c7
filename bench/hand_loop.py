"""The training loop written by hand that `fermion train` is measured against."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from torch import nn


def samples_per_second(
    model: nn.Module,
    optimizer: Any,
    batches: Iterable,
    epochs: int,
    world_size: int = 1,
    before_epoch: Callable[[int], None] | None = None,
) -> float:
    """AdamW steps over `batches` for `epochs`; samples/s of the last epoch, all ranks."""
    loss_fn = nn.CrossEntropyLoss()
    rate = 0.0
    for epoch in range(epochs):
        if before_epoch is not None:
            before_epoch(epoch)
        started, seen = time.perf_counter(), 0
        for x, y in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            seen += len(y) * world_size
        rate = seen / (time.perf_counter() - started)
    return rate
