"""The SDK's calls for deployments and predictions, mixed into `fermion.Client` (which
provides the HTTP plumbing: `_json`, `_request`, `_stream_text`)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from fermion.client.timeouts import LONG
from fermion.errors import InvalidInput
from fermion.payloads import (
    MAX_BATCH_DELAY_MS,
    MAX_BATCH_SIZE,
    REPLICA_CPU,
    REPLICA_MEMORY,
    SCALE_DOWN_DELAY_S,
    TARGET_CONCURRENCY,
    Autoscaling,
    DeploymentAutoscale,
    DeploymentCreate,
    DeploymentPublic,
    DeploymentScale,
    DeploymentsPublic,
    DeploymentToken,
    DeploymentUpdate,
    build,
)


def _bounds(
    min_replicas: int, max_replicas: int | None, target: float, delay_s: float
) -> Autoscaling | None:
    if max_replicas is None:
        return None
    return build(
        Autoscaling,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_concurrency=target,
        scale_down_delay_s=delay_s,
    )


class DeploymentCalls:
    _json: Callable[..., Any]
    _request: Callable[..., httpx.Response]
    _stream_text: Callable[..., Iterator[str]]

    def deploy(
        self,
        model: str,
        name: str,
        replicas: int = 1,
        max_batch_size: int = MAX_BATCH_SIZE,
        max_batch_delay_ms: float = MAX_BATCH_DELAY_MS,
        cpu: float = REPLICA_CPU,
        memory: str = REPLICA_MEMORY,
        public: bool = False,
        runtime: str = "torch",
        min_replicas: int = 1,
        max_replicas: int | None = None,
        target_concurrency: float = TARGET_CONCURRENCY,
        scale_down_delay_s: float = SCALE_DOWN_DELAY_S,
    ) -> DeploymentPublic:
        """Serve `model` as deployment `name`. `runtime="onnx"` runs image, sound,
        tabular and text models in ONNX Runtime: light replicas, without torch. With `max_replicas`, the
        deployment scales itself between `min_replicas` and it, aiming at
        `target_concurrency` requests in flight per replica."""
        autoscaling = _bounds(min_replicas, max_replicas, target_concurrency, scale_down_delay_s)
        body = build(
            DeploymentCreate,
            name=name,
            model=model,
            replicas=replicas,
            max_batch_size=max_batch_size,
            max_batch_delay_ms=max_batch_delay_ms,
            cpu=cpu,
            memory=memory,
            public=public,
            runtime=runtime,
            autoscaling=autoscaling,
        )
        return DeploymentPublic.model_validate(
            self._json("POST", "/api/v1/deployments", json=body.model_dump())
        )

    def autoscale_deployment(
        self,
        name: str,
        min_replicas: int = 1,
        max_replicas: int | None = None,
        target_concurrency: float = TARGET_CONCURRENCY,
        scale_down_delay_s: float = SCALE_DOWN_DELAY_S,
    ) -> DeploymentPublic:
        """New autoscaling bounds; without `max_replicas`, autoscaling off (the replica
        count stays where it is)."""
        autoscaling = _bounds(min_replicas, max_replicas, target_concurrency, scale_down_delay_s)
        body = build(DeploymentAutoscale, autoscaling=autoscaling).model_dump()
        return DeploymentPublic.model_validate(
            self._json("PUT", f"/api/v1/deployments/{name}/autoscaling", json=body)
        )

    def list_deployments(self) -> DeploymentsPublic:
        return DeploymentsPublic.model_validate(self._json("GET", "/api/v1/deployments"))

    def get_deployment(self, name: str) -> DeploymentPublic:
        return DeploymentPublic.model_validate(self._json("GET", f"/api/v1/deployments/{name}"))

    def scale_deployment(self, name: str, replicas: int) -> DeploymentPublic:
        body = build(DeploymentScale, replicas=replicas).model_dump()
        return DeploymentPublic.model_validate(
            self._json("POST", f"/api/v1/deployments/{name}/scale", json=body)
        )

    def update_deployment(self, name: str, model: str) -> DeploymentPublic:
        body = build(DeploymentUpdate, model=model).model_dump()
        return DeploymentPublic.model_validate(
            self._json("POST", f"/api/v1/deployments/{name}/update", json=body)
        )

    def delete_deployment(self, name: str) -> None:
        self._request("DELETE", f"/api/v1/deployments/{name}")

    def deployment_token(self, name: str) -> DeploymentToken:
        return DeploymentToken.model_validate(
            self._json("POST", f"/api/v1/deployments/{name}/tokens")
        )

    def wait_deployment(
        self, name: str, timeout: float = 300.0, poll_s: float = 0.5
    ) -> DeploymentPublic:
        """Block until every replica serves the deployment's model and is ready."""
        deadline = time.monotonic() + timeout
        while True:
            deployment = self.get_deployment(name)
            if deployment.status == "ready" or time.monotonic() > deadline:
                return deployment
            time.sleep(poll_s)

    def deployment_logs(self, name: str) -> str:
        return self._request("GET", f"/api/v1/deployments/{name}/logs").text

    def follow_deployment_logs(self, name: str) -> Iterator[str]:
        """Every replica's log as it is written, until the deployment is deleted."""
        yield from self._stream_text(f"/api/v1/deployments/{name}/logs", params={"follow": "true"})

    def predict(
        self,
        deployment: str,
        *,
        image: Any = None,
        text: Any = None,
        record: Any = None,
        audio: Any = None,
        user: Any = None,
        inputs: list[Any] | None = None,
        top_k: int | None = None,
        min_score: float | None = None,
    ) -> list[dict[str, Any]]:
        """Predictions from a deployment, one per input. Give images or sound files
        (paths or bytes), texts, records (dicts of feature values), user ids (for a
        recommender), one or a list of them, or `inputs` as the API takes them.
        `min_score`: a detector's lowest score shown (default: the model's own)."""
        given = [v for v in (image, text, record, audio, user, inputs) if v is not None]
        if len(given) != 1:
            raise InvalidInput("give one of image=, audio=, text=, record=, user= or inputs=")
        files = image if image is not None else audio
        if files is not None:
            files = files if isinstance(files, list | tuple) else [files]
            inputs = [
                base64.b64encode(f if isinstance(f, bytes) else Path(f).read_bytes()).decode()
                for f in files
            ]
        elif text is not None or user is not None:
            strings = text if text is not None else user
            inputs = list(strings) if isinstance(strings, list | tuple) else [strings]
        elif record is not None:
            inputs = list(record) if isinstance(record, list | tuple) else [record]
        params: dict[str, Any] = {"top_k": top_k} if top_k else {}
        if min_score is not None:
            params["min_score"] = min_score
        answer = self._json(
            "POST",
            f"/api/v1/deployments/{deployment}/predict",
            json={"inputs": inputs},
            params=params,
            timeout=LONG,
        )
        return answer["predictions"]
