"""Recommendation networks: they score every item of the catalogue for a user.

Each network carries what serving needs besides its embeddings, as buffers saved with
its weights: every user's history (items in time order, compressed rows: `indptr`,
`items`), so that seen items are never recommended again, and the items' popularity,
which answers for users the model has never met (index -1).

- `forward(users)`: [B, items] scores, a user's seen items at -inf; unknown users get
  the popularity ranking.
- `forward(users, candidates)`: [B, K] raw scores of the given items (training with
  sampled negatives).
- `forward(users, exclude_seen=False)`: [B, items] raw scores (evaluation masks its
  own way: a held-out item is in the history)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

RECENT = 20  # the history shown beside a recommendation


class User(NamedTuple):
    """A prepared input: the user's id as asked, and the network's index for it (-1 for
    a user the model has never met)."""

    name: str
    index: int


def user_batch(users: list[User]) -> torch.Tensor:
    return torch.tensor([user.index for user in users], dtype=torch.int64)


def exclude(
    scores: torch.Tensor, users: torch.Tensor, indptr: torch.Tensor, items: torch.Tensor
) -> torch.Tensor:
    """`scores` [B, items] with each user's items (rows of indptr/items) set to -inf;
    users below 0 (unknown) keep their row."""
    known = users >= 0
    rows_of = users.clamp_min(0)
    starts, ends = indptr[rows_of], indptr[rows_of + 1]
    lengths = torch.where(known, ends - starts, torch.zeros_like(starts))
    if int(lengths.sum()) == 0:
        return scores
    batch_rows = torch.repeat_interleave(torch.arange(len(users), device=users.device), lengths)
    first = torch.repeat_interleave(starts, lengths)
    within = torch.arange(len(batch_rows), device=users.device) - torch.repeat_interleave(
        torch.cumsum(lengths, 0) - lengths, lengths
    )
    masked = scores.clone()
    masked[batch_rows, items[first + within]] = float("-inf")
    return masked


class Recommender(nn.Module, ABC):
    def __init__(self, users: int, items: int, interactions: int) -> None:
        super().__init__()
        self.register_buffer("indptr", torch.zeros(users + 1, dtype=torch.int64))
        self.register_buffer("history", torch.zeros(interactions, dtype=torch.int64))
        self.register_buffer("popularity", torch.zeros(items))

    def remember(self, indptr: torch.Tensor, history: torch.Tensor, counts: torch.Tensor) -> None:
        """Set the users' histories and the items' popularity (interaction counts)."""
        self.indptr.copy_(indptr)
        self.history.copy_(history)
        self.popularity.copy_(torch.log1p(counts.float()))

    @abstractmethod
    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        """[B, dim]: what each user is looking for."""

    @abstractmethod
    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """[..., dim] for `items`, or [items, dim] for the whole catalogue."""

    def item_bias(self, items: torch.Tensor | None = None) -> torch.Tensor | float:
        return 0.0

    def forward(
        self,
        users: torch.Tensor,
        candidates: torch.Tensor | None = None,
        exclude_seen: bool = True,
    ) -> torch.Tensor:
        known = users >= 0
        vectors = self.user_vectors(users.clamp_min(0))
        if candidates is not None:
            item_vectors = self.item_vectors(candidates)  # B x K x dim
            return torch.einsum("bd,bkd->bk", vectors, item_vectors) + self.item_bias(candidates)
        scores = vectors @ self.item_vectors().T + self.item_bias()
        if not exclude_seen:
            return scores
        scores = torch.where(known[:, None], scores, self.popularity.expand_as(scores))
        return exclude(scores, users, self.indptr, self.history)


class MatrixFactorization(Recommender):
    """A vector per user and per item, and a bias per item: score = user . item + bias."""

    def __init__(self, users: int, items: int, interactions: int, dim: int = 64) -> None:
        super().__init__(users, items, interactions)
        self.users = nn.Embedding(users, dim)
        self.items = nn.Embedding(items, dim)
        self.bias = nn.Embedding(items, 1)
        for table in (self.users, self.items):
            nn.init.normal_(table.weight, std=0.05)
        nn.init.zeros_(self.bias.weight)

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.users(users)

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        return self.items.weight if items is None else self.items(items)

    def item_bias(self, items: torch.Tensor | None = None) -> torch.Tensor:
        return self.bias.weight.squeeze(-1) if items is None else self.bias(items).squeeze(-1)


class TwoTower(Recommender):
    """A user tower and an item tower (an embedding, then two layers each), whose
    normalised outputs meet in a dot product scaled by a learned temperature."""

    def __init__(self, users: int, items: int, interactions: int, dim: int = 64) -> None:
        super().__init__(users, items, interactions)

        def tower(count: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Embedding(count, dim), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim)
            )

        self.user_tower = tower(users)
        self.item_tower = tower(items)
        self.log_scale = nn.Parameter(torch.tensor(2.3))  # e^2.3 = 10

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.user_tower(users), dim=-1) * self.log_scale.exp()

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        if items is None:
            items = torch.arange(self.popularity.numel(), device=self.popularity.device)
        return nn.functional.normalize(self.item_tower(items), dim=-1)


RECOMMENDERS = {"mf": MatrixFactorization, "two-tower": TwoTower}


def recommendation(
    network: Recommender, user: User, scores: Any, items: list[str], k: int
) -> dict[str, Any]:
    """One answer: the k best items the user has not seen (by score), and the user's
    latest RECENT items, most recent first, to show beside them."""
    index = user.index
    order = np.argsort(-scores, kind="stable")[:k]
    best = [
        {"item": items[i], "score": round(float(scores[i]), 6)}
        for i in order
        if np.isfinite(scores[i])
    ]
    seen: list[str] = []
    if index >= 0:
        start, end = int(network.indptr[index]), int(network.indptr[index + 1])
        seen = [items[i] for i in network.history[max(start, end - RECENT) : end].tolist()[::-1]]
    return {"user": user.name, "known_user": index >= 0, "items": best, "history": seen}
