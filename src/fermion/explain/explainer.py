"""One raw input, as `predict` takes it, -> an Explanation: the answer explained (the
predicted class unless another is asked for), the attributions by the method asked for,
and their completeness check.

The explained output is the target class's probability (a regression's value), so an
attribution reads as "this much of the probability came from here"."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from fermion.errors import InvalidInput
from fermion.modelfile import LoadedModel
from fermion.modelfile.inputs import Preprocessor
from fermion.modelfile.schema import TEXT_KINDS
from fermion.payloads.explanations import EXPLAIN_METHODS, AttributionCheck, Explanation

Forward = Callable[..., torch.Tensor]


def kind_of(model: LoadedModel) -> str:
    kind = model.preprocessing.kind
    kind = "text" if kind in TEXT_KINDS else kind
    if kind not in EXPLAIN_METHODS:
        raise InvalidInput(
            f"explanations cover {', '.join(EXPLAIN_METHODS)} models; this {model.kind.value}"
            " model has none"
        )
    return kind


def pick_method(kind: str, method: str | None) -> str:
    offered = EXPLAIN_METHODS[kind]
    if method is None:
        return offered[0]
    if method not in offered:
        raise InvalidInput(f"{method} does not explain {kind} models; use {' or '.join(offered)}")
    return method


def scores(network: torch.nn.Module, regression: bool) -> Forward:
    """The output explained: class probabilities [N, classes], or values [N]."""

    def forward(x: Any, *rest: Any) -> torch.Tensor:
        out = network(x, *rest).float()
        return out.reshape(-1) if regression else torch.softmax(out, dim=-1)

    return forward


def completeness(total: float, expected: float) -> AttributionCheck:
    return AttributionCheck(total=total, expected=expected, error=abs(total - expected))


class Explainer:
    """Explains one model's answers; built once per model (a replica keeps one)."""

    def __init__(self, model: LoadedModel, name: str = "") -> None:
        self.model = model
        self.name = name or model.folder.name
        self.kind = kind_of(model)
        self.pre = Preprocessor(model)
        self.forward = scores(model.network, model.regression)

    def target_index(self, batch: Any, target: str | None) -> int | None:
        """The class to explain: the one asked for, or the predicted one."""
        if self.model.regression:
            if target is not None:
                raise InvalidInput("a regression model has no classes: leave out target")
            return None
        if target is not None:
            if target not in self.model.labels:
                known = ", ".join(self.model.labels[:20])
                raise InvalidInput(f"target {target!r} is not one of the model's classes: {known}")
            return self.model.labels.index(target)
        with torch.inference_mode():
            return int(self.forward(batch).argmax(-1)[0])

    def explain(
        self, value: Any, target: str | None = None, method: str | None = None
    ) -> Explanation:
        from fermion.explain import images, tables, text

        started = time.perf_counter()
        method = pick_method(self.kind, method)
        batch = self.pre.collate([self.pre.prepare(value, "input")])
        index = self.target_index(batch, target)
        explain = {"image": images.explain, "text": text.explain, "tabular": tables.explain}
        found = explain[self.kind](self, batch, index, method, value)
        return Explanation(
            model=self.name,
            kind=self.kind,
            method=method,
            target=None if index is None else self.model.labels[index],
            seconds=round(time.perf_counter() - started, 4),
            **found,
        )

    def score(self, batch: Any, index: int | None) -> float:
        with torch.inference_mode():
            out = self.forward(batch)
        return float(out[0] if index is None else out[0, index])
