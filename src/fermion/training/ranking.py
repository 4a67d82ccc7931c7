"""Training recommenders: the trainer's loop with a loss and an evaluation of their own.

- Data: every interaction of the train split is a (user, item) pair; validation and test
  hold each user's held-out interaction (leave-last-out, made at ingest).
- Loss: sampled softmax. Each pair's item competes with NEGATIVES items drawn uniformly
  from the catalogue, so a step costs the same however large the catalogue is.
- Evaluation: every item is ranked for the user, minus what the user had already seen
  (the train split's interactions; for the test split, the validation one's too), and
  the held-out item's rank gives HR@10, NDCG@10 and recall@20. The same ranking by
  popularity (interactions in the train split) is measured beside it: the baseline a
  recommender must beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from fermion.datasets.loading import Dataset
from fermion.datasets.splits import SPLIT_NAMES
from fermion.errors import InvalidInput
from fermion.modelfile.recommenders import exclude
from fermion.modelfile.schema import InteractionsPreprocessing
from fermion.training.config import TrainConfig
from fermion.training.data import Data
from fermion.training.loop import Trainer

NEGATIVES = 64
CUTOFFS = {"hr@10": 10, "recall@20": 20}


def histories(
    users: np.ndarray, items: np.ndarray, times: np.ndarray, n_users: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each user's items in time order, as compressed rows (indptr, items)."""
    order = np.lexsort((times, users))
    indptr = np.r_[0, np.cumsum(np.bincount(users, minlength=n_users))]
    return torch.from_numpy(indptr.astype(np.int64)), torch.from_numpy(items[order])


def interactions_data(config: TrainConfig, client: Any) -> Data:
    tables = {s: Dataset.from_local(config.dataset, s, client=client).table for s in SPLIT_NAMES}
    users = sorted({u for t in tables.values() for u in t.unique("user")})
    items = sorted({i for t in tables.values() for i in t.unique("item")})
    user_of = {u: n for n, u in enumerate(users)}
    item_of = {i: n for n, i in enumerate(items)}
    columns = {
        s: (
            np.fromiter((user_of[u] for u in t["user"]), np.int64, len(t)),
            np.fromiter((item_of[i] for i in t["item"]), np.int64, len(t)),
            np.asarray(t["timestamp"], dtype=np.float64),
        )
        for s, t in tables.items()
    }

    def joined(*splits: str) -> tuple[np.ndarray, ...]:
        return tuple(
            np.concatenate(parts) for parts in zip(*(columns[s] for s in splits), strict=True)
        )

    pairs = {
        s: torch.utils.data.TensorDataset(torch.from_numpy(u), torch.from_numpy(i))
        for s, (u, i, _) in columns.items()
    }
    everything = joined(*SPLIT_NAMES)
    indptr, history = histories(*everything, len(users))
    counts = torch.from_numpy(np.bincount(columns["train"][1], minlength=len(items)))
    preprocessing = InteractionsPreprocessing(users=users, interactions=len(history))
    return Data(
        pairs["train"],
        pairs["validation"],
        pairs["test"],
        items,
        preprocessing=preprocessing,
        model_inputs={
            **preprocessing.shape_inputs(),
            "history": (indptr, history, counts),  # what serving excludes, and popularity
        },
        seen={
            "validation": histories(*joined("train"), len(users)),
            "test": histories(*joined("train", "validation"), len(users)),
        },
    )


def ranks_of(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The held-out item's 0-based rank among a row's scores; a target the user had
    already seen (-inf) ranks last."""
    target = scores.gather(1, targets[:, None])
    ranks = (scores > target).sum(1)
    return torch.where(target.squeeze(1).isfinite(), ranks, scores.shape[1])


def ranking_metrics(ranks: torch.Tensor) -> dict[str, float]:
    found = {name: (ranks < k).float().mean().item() for name, k in CUTOFFS.items()}
    gain = torch.where(ranks < 10, 1 / torch.log2(ranks.float() + 2), torch.zeros(()))
    return {**found, "ndcg@10": gain.mean().item(), "mrr": (1 / (ranks.float() + 1)).mean().item()}


class RankingTrainer(Trainer):
    @property
    def metric_name(self) -> str:
        return "ndcg@10"

    def score(self, metrics: dict[str, Any]) -> list[float]:
        return [metrics["ndcg@10"], metrics["hr@10"], -metrics["loss"]]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        negatives = torch.randint(0, len(self.data.classes), (len(y), NEGATIVES), device=y.device)
        out = self.model(x, torch.cat([y[:, None], negatives], 1))
        return nn.functional.cross_entropy(out.float(), torch.zeros_like(y))

    @torch.no_grad()
    def evaluate(self, data_loader: Any, details: bool = False) -> dict[str, Any]:
        self.model.eval()
        split = "test" if data_loader is self.test_loader else "validation"
        popularity = self.accelerator.unwrap_model(self.model).popularity
        found: dict[str, list[torch.Tensor]] = {"model": [], "popularity": [], "loss": []}
        indptr, items = (t.to(popularity.device) for t in self.data.seen[split])
        for users, targets in data_loader:
            with self.accelerator.autocast():
                scores = self.model(users, exclude_seen=False).float()
            loss = nn.functional.cross_entropy(scores, targets, reduction="none")
            ranks = ranks_of(exclude(scores, users, indptr, items), targets)
            baseline = exclude(popularity.expand(len(users), -1), users, indptr, items)
            batch = self.accelerator.gather_for_metrics((ranks, ranks_of(baseline, targets), loss))
            for key, value in zip(found, batch, strict=True):
                found[key].append(value.cpu())
        model, baseline, loss = (torch.cat(v) for v in found.values())
        return {
            "loss": loss.mean().item(),
            **ranking_metrics(model),
            **{f"popularity_{k}": v for k, v in ranking_metrics(baseline).items()},
            "users": len(model),
        }


EARLIER = {"validation": ("train",), "test": ("train", "validation")}


def evaluate_recommender(model: Any, dataset: Dataset, client: Any) -> dict[str, Any]:
    """A registered recommender on a split of an interactions dataset (the evaluation
    job's): the same ranking as in training, with what the split's users had seen
    before it (its earlier splits) excluded, beside the popularity ranking."""
    split = dataset.split
    if split not in EARLIER:
        raise InvalidInput(
            "a recommender is evaluated on the validation or test split: those hold each"
            f" user's held-out interaction; {split!r} does not"
        )
    user_of = {u: n for n, u in enumerate(model.preprocessing.users)}
    item_of = {i: n for n, i in enumerate(model.labels)}
    network = model.network

    def indices(table: Any) -> tuple[np.ndarray, ...]:
        users = np.fromiter((user_of.get(u, -1) for u in table["user"]), np.int64, len(table))
        items = np.fromiter((item_of.get(i, -1) for i in table["item"]), np.int64, len(table))
        return users, items, np.asarray(table["timestamp"], dtype=np.float64)

    before = [
        indices(Dataset.from_local(dataset.info.ref, s, client=client).table)
        for s in EARLIER[split]
    ]
    u, i, t = (np.concatenate(parts) for parts in zip(*before, strict=True))
    keep = (u >= 0) & (i >= 0)
    indptr, items = histories(u[keep], i[keep], t[keep], len(user_of))
    users, targets, _ = indices(dataset.table)
    found = targets >= 0
    users, targets = torch.from_numpy(users[found]), torch.from_numpy(targets[found])
    with torch.inference_mode():
        scores = network(users, exclude_seen=False).float()
        popular = network.popularity.expand(len(users), -1)
        scores = torch.where((users >= 0)[:, None], scores, popular)
        model_ranks = ranks_of(exclude(scores, users, indptr, items), targets)
        popular_ranks = ranks_of(exclude(popular, users, indptr, items), targets)
    misses = torch.full((int((~found).sum()),), len(item_of))  # items the model never saw
    model_ranks, popular_ranks = (
        torch.cat([model_ranks, misses]),
        torch.cat([popular_ranks, misses]),
    )
    return {
        **ranking_metrics(model_ranks),
        **{f"popularity_{k}": v for k, v in ranking_metrics(popular_ranks).items()},
        "users": len(model_ranks),
    }
