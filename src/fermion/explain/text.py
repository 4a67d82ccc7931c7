"""Token attributions: Integrated Gradients on the input embeddings, from the same text
with every word unknown (special tokens kept), or occlusion (each token made unknown in
turn). One value per token: how much it moved the explained output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from fermion.explain.explainer import completeness
from fermion.modelfile.schema import WordPreprocessing
from fermion.modelfile.tokenizer import PAD, TOKEN, UNKNOWN

if TYPE_CHECKING:
    from fermion.explain.explainer import Explainer

STEPS = 64


def embedding_layer(network: nn.Module) -> nn.Module:
    """The layer that turns token ids into vectors."""
    hf = getattr(network, "hf", None)
    if hf is not None:
        return hf.get_input_embeddings()
    for module in network.modules():
        if isinstance(module, nn.Embedding):
            return module  # the first one: token embeddings come before positions
    raise ValueError("the network has no embedding layer to attribute to")


class TokenInputs:
    """The batch as (ids, other tensors), a forward over them, the baseline ids, and the
    tokens as text."""

    def __init__(self, explainer: Explainer, batch: Any, value: Any) -> None:
        network, forward = explainer.model.network, explainer.forward
        if isinstance(batch, dict):  # a Hugging Face tokenizer's output
            keys = [k for k in batch if k != "input_ids"]
            self.ids, self.rest = batch["input_ids"], tuple(batch[k] for k in keys)
            self.forward = lambda ids, *rest: forward(
                {"input_ids": ids, **dict(zip(keys, rest, strict=True))}
            )
            tokenizer = explainer.pre.hf_tokenizer
            ids = self.ids[0].tolist()
            special = tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
            unknown = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else PAD
            self.baseline = torch.tensor(
                [[i if s else unknown for i, s in zip(ids, special, strict=True)]]
            )
            self.tokens = tokenizer.convert_ids_to_tokens(ids)
        else:
            self.ids, self.rest, self.forward = batch, (), forward
            self.baseline = torch.where(batch == PAD, batch, torch.full_like(batch, UNKNOWN))
            self.tokens = words(explainer.model.preprocessing, value, batch[0].tolist())
        self.layer = embedding_layer(network)

    def score(self, ids: torch.Tensor, index: int | None) -> float:
        with torch.inference_mode():
            out = self.forward(ids, *self.rest)
        return float(out[0] if index is None else out[0, index])


def words(spec: Any, value: Any, ids: list[int]) -> list[str]:
    """The words behind the word tokenizer's ids (the tokenizer's own splitting)."""
    assert isinstance(spec, WordPreprocessing)
    found = TOKEN.findall(str(value).lower())[: len(ids)]
    return found if len(found) == len(ids) else [f"<{i}>" for i in ids]


def explain(
    explainer: Explainer, batch: Any, index: int | None, method: str, value: Any
) -> dict[str, Any]:
    from captum.attr import FeatureAblation, LayerIntegratedGradients

    inputs = TokenInputs(explainer, batch, value)
    check = None
    if method == "occlusion":
        found = FeatureAblation(inputs.forward).attribute(
            inputs.ids,
            baselines=inputs.baseline,
            target=index,
            additional_forward_args=inputs.rest or None,
        )[0]
    else:
        layered, delta = LayerIntegratedGradients(inputs.forward, inputs.layer).attribute(
            inputs.ids,
            baselines=inputs.baseline,
            target=index,
            additional_forward_args=inputs.rest or None,
            n_steps=STEPS,
            internal_batch_size=STEPS,
            return_convergence_delta=True,
        )
        found = layered[0].sum(-1)
        total = float(found.sum())
        check = completeness(total, total - float(delta[0]))
    return {
        "score": inputs.score(inputs.ids, index),
        "baseline": "the same text with every word unknown",
        "baseline_score": inputs.score(inputs.baseline, index),
        "tokens": [
            {"token": token, "attribution": round(float(a), 6)}
            for token, a in zip(inputs.tokens, found.detach().tolist(), strict=True)
        ],
        "check": check,
    }
