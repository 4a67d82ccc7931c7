"""Splits are stratified, deterministic, and independent of record order."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np

from fermion.datasets.splits import assign_splits, split_rank


def _records(n_per_class: dict[str, int], seed: int = 0):
    keys, labels = [], []
    for label, n in n_per_class.items():
        for i in range(n):
            keys.append(f"{label}/{i}.png")
            labels.append(label)
    return keys, labels


def _split(keys, labels, fractions, seed, stratify=True):
    ranks = np.array([split_rank(seed, k) for k in keys], dtype=np.uint64)
    ids = {name: i for i, name in enumerate(sorted(set(labels)))}
    groups = np.array([ids[label] if stratify else 0 for label in labels])
    return assign_splits(ranks, groups, fractions)


def test_each_class_is_split_by_the_fractions():
    keys, labels = _records({"a": 100, "b": 50, "c": 10})
    splits = _split(keys, labels, [0.8, 0.1, 0.1], seed=0)
    counts = {name: Counter(labels[i] for i in idx) for name, idx in splits.items()}
    assert counts["validation"] == {"a": 10, "b": 5, "c": 1}
    assert counts["test"] == {"a": 10, "b": 5, "c": 1}
    assert counts["train"] == {"a": 80, "b": 40, "c": 8}
    every = sorted(int(i) for idx in splits.values() for i in idx)
    assert every == list(range(len(keys)))


def test_same_seed_same_split_regardless_of_order():
    keys, labels = _records({"a": 60, "b": 40})
    first = _split(keys, labels, [0.7, 0.15, 0.15], seed=3)
    order = list(range(len(keys)))
    random.Random(1).shuffle(order)
    shuffled = _split(
        [keys[i] for i in order], [labels[i] for i in order], [0.7, 0.15, 0.15], seed=3
    )
    for name in first:
        assert {keys[i] for i in first[name]} == {keys[order[i]] for i in shuffled[name]}


def test_another_seed_gives_another_split():
    keys, labels = _records({"a": 60, "b": 40})
    one = _split(keys, labels, [0.8, 0.1, 0.1], seed=0)
    two = _split(keys, labels, [0.8, 0.1, 0.1], seed=1)
    assert not np.array_equal(one["test"], two["test"])
    assert len(one["test"]) == len(two["test"])


def test_regression_is_not_stratified():
    keys = [f"row {i}" for i in range(200)]
    splits = _split(keys, [str(i) for i in range(200)], [0.5, 0.25, 0.25], seed=0, stratify=False)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [100, 50, 50]
