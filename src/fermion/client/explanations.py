"""The SDK's explanation calls, mixed into `fermion.Client`: one input's answer
explained by a registered model (in a job) or by a deployment (in its replicas)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fermion.client.timeouts import LONG
from fermion.errors import InvalidInput
from fermion.payloads import ExplainCreate, Explanation, build
from fermion.refs import parse_ref


def one_input(image: Any = None, text: str | None = None, record: Any = None) -> Any:
    """The input as the API takes it: an image (a path or bytes) as base64, a text, or a
    record (a dict of feature values)."""
    given = [v for v in (image, text, record) if v is not None]
    if len(given) != 1:
        raise InvalidInput("give one of image=, text= or record=")
    if image is not None:
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        return base64.b64encode(data).decode()
    return text if text is not None else record


class ExplainCalls:
    _json: Callable[..., Any]

    def explain_model(
        self,
        ref: str,
        *,
        image: Any = None,
        text: str | None = None,
        record: Any = None,
        target: str | None = None,
        method: str | None = None,
    ) -> Explanation:
        """Why the model (NAME or NAME:vN) answers one input as it does: attributions
        per pixel, token or feature, computed in a job (the call waits for it)."""
        name, version = parse_ref(ref, kind="model")
        path = f"/api/v1/models/{name}/versions/{version or 'latest'}/explain"
        return self._explain(path, one_input(image, text, record), target, method)

    def explain(
        self,
        deployment: str,
        *,
        image: Any = None,
        text: str | None = None,
        record: Any = None,
        target: str | None = None,
        method: str | None = None,
    ) -> Explanation:
        """The same, from a deployment's replicas (the model is loaded already: fast)."""
        path = f"/api/v1/deployments/{deployment}/explain"
        return self._explain(path, one_input(image, text, record), target, method)

    def _explain(
        self, path: str, value: Any, target: str | None, method: str | None
    ) -> Explanation:
        body = build(ExplainCreate, input=value, target=target, method=method)
        sent = body.model_dump(exclude_none=True, include={"input", "target", "method"})
        return Explanation.model_validate(self._json("POST", path, json=sent, timeout=LONG))
