"""Deterministic, stratified train/validation/test splits.

Within each class, records are ordered by a hash of (seed, key) and cut by the split
fractions. The result depends only on the records, the fractions and the seed: not on
file order, the machine, or how many times it runs.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

SPLIT_NAMES = ("train", "validation", "test")


def _rank(seed: int, key: str) -> bytes:
    return hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest()


def assign_splits(
    keys: Sequence[str],
    labels: Sequence[object],
    fractions: Sequence[float],
    seed: int,
    stratify: bool,
) -> dict[str, list[int]]:
    """Indices of the records in each split, each list in ascending order."""
    groups: dict[object, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        groups[label if stratify else None].append(index)

    out: dict[str, list[int]] = {name: [] for name in SPLIT_NAMES}
    for members in groups.values():
        members.sort(key=lambda i: _rank(seed, keys[i]))
        n = len(members)
        n_val = round(n * fractions[1])
        n_test = round(n * fractions[2])
        n_train = max(n - n_val - n_test, 0)
        out["train"] += members[:n_train]
        out["validation"] += members[n_train : n_train + n_val]
        out["test"] += members[n_train + n_val :]
    return {name: sorted(indices) for name, indices in out.items()}
