"""Serving throughput and latency, four ways, in one run:

    python -m bench.serve [--model resnet18|small-cnn] [--seconds 4] [--rounds 3] [--side 32]

(a) a Fermion replica with dynamic batching (max batch 32, 5 ms),
(b) the same replica without batching (max batch 1),
(c) a plain FastAPI app that decodes the image and calls the model per request,
(d) the batching replica deployed on a Fermion server and called through its gateway
    (`/api/v1/deployments/NAME/predict`, token checked, round robin, one replica),
and, as the ceiling, the model's own batched forward pass in-process (decode + forward,
batches of 32, no HTTP). Requests carry one PNG as base64 JSON, the replica's simple
API, or one image as a V2 FP32 tensor in JSON. The servers are started one after the
other (each one's start and idle memory are measured then, the earlier ones idle) and
keep 2 threads each; all then stay up while one at a time is loaded, every load
`--rounds` times in turn, and each figure is the run of median throughput. The load
generator (asyncio + aiohttp) runs on the same machine and takes CPU too, so absolute
figures understate a real server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import httpx

from bench.results import record

LIGHT = "fermion light (onnx)"
PLAIN_APP = """
import io, os
import torch
from fastapi import FastAPI
from pydantic import BaseModel
from PIL import Image
from torchvision.transforms import v2
from fermion import modelfile

bundle = modelfile.load(os.environ["PLAIN_MODEL"])
spec = bundle.preprocessing
pipeline = v2.Compose([v2.Resize(list(spec.image_size), antialias=True),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize(spec.mean, spec.std)])
app = FastAPI()

class Request(BaseModel):
    inputs: list[str]

@app.post("/predict")
def predict(request: Request):
    import base64
    import numpy as np
    images = []
    for text in request.inputs:
        image = Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB")
        pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
        images.append(pipeline(pixels))
    with torch.inference_mode():
        probabilities = torch.softmax(bundle.network(torch.stack(images)), 1)
    return {"predictions": [{"label": bundle.labels[int(p.argmax())], "probability": float(p.max())}
                            for p in probabilities]}

@app.post("/v2/models/{name}/infer")
def infer(name: str, request: dict):
    import numpy as np
    tensor = request["inputs"][0]
    x = torch.from_numpy(np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"]))
    with torch.inference_mode():
        probabilities = torch.softmax(bundle.network(x), 1)
    return {"model_name": name, "outputs": [{"name": "probabilities", "datatype": "FP32",
            "shape": list(probabilities.shape), "data": probabilities.flatten().tolist()}]}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_model(folder: Path, name: str, side: int) -> Path:
    import torch

    from fermion import modelfile
    from fermion.modelfile import architectures

    torch.manual_seed(0)
    network = architectures.build("image-classification", name, 10, {"image_side": side})
    pre = modelfile.ImagePreprocessing(image_size=(side, side), mean=[0.5] * 3, std=[0.25] * 3)
    spec = modelfile.ModelSpec(dataset_type="image-classification", model=name)
    return modelfile.save(folder, network, spec, [str(i) for i in range(10)], pre)


def png(side: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(command: list[str], port: int, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if ready.status_code in (200, 404):  # the plain app has no /readyz: it answers
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command} did not start")


def v2_float_body(side: int) -> bytes:
    """One image as a V2 FP32 tensor in JSON (about 62 KB at 32x32)."""
    import numpy as np

    values = np.random.default_rng(0).standard_normal(3 * side * side).astype(np.float32)
    tensor = {"name": "input", "datatype": "FP32", "shape": [1, 3, side, side]}
    return json.dumps({"inputs": [{**tensor, "data": values.tolist()}]}).encode()


async def load(
    url: str, body: bytes, concurrency: int, seconds: float, token: str | None = None
) -> dict[str, float]:
    """Closed-loop load: `concurrency` clients, each sending its next request when the
    last is answered. aiohttp, not httpx: on 2 cores the load generator shares the CPU
    with the servers, and httpx took several times aiohttp's CPU per request."""
    latencies: list[float] = []
    errors = 0
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        for _ in range(3):  # warm the connections and the server
            async with client.post(url, data=body, headers=headers) as answer:
                await answer.read()
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with client.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    if answer.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "errors": errors,
    }


@contextmanager
def deployed(folder: Path, home: Path) -> Iterator[tuple[str, str]]:
    """The model deployed on a Fermion server of its own: its public endpoint and a token."""
    from fermion.client import Client, launcher
    from fermion.settings import Settings

    settings = Settings(home=home, port=free_port(), capacity="cpu=2,memory=8Gi")
    launcher.start(settings)
    try:
        with Client(settings=settings, autostart=False) as client:
            client.import_model("bench-model", folder)
            client.deploy(
                "bench-model", name="bench", cpu=2, max_batch_size=32, max_batch_delay_ms=5
            )
            if client.wait_deployment("bench", timeout=120).status != "ready":
                raise RuntimeError("the deployment did not become ready")
            yield f"{client.url}/api/v1/deployments/bench/predict", client.token
            client.delete_deployment("bench")
            time.sleep(3)  # the replica finishes and stops
    finally:
        launcher.stop(settings)


def ceiling(folder: Path, image: bytes, seconds: float) -> float:
    """Images/s of decode + batched forward in this process, batches of 32, 2 threads."""
    import torch

    from fermion import modelfile
    from fermion.modelfile.inputs import Preprocessor

    torch.set_num_threads(2)
    model = modelfile.load(folder)
    pre = Preprocessor(model)
    text = base64.b64encode(image).decode()
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        batch = pre.collate([pre.prepare(text, "x") for _ in range(32)])
        with torch.inference_mode():
            model.network(batch)
        done += 32
    return done / (time.perf_counter() - began)


Load = tuple[tuple[str, int], str, bytes, int, str | None]  # key, url, body, concurrency, token


def in_rounds(
    loads: list[Load], folder: Path, image: bytes, args: argparse.Namespace
) -> tuple[dict[tuple[str, int], dict[str, float]], float]:
    """The median run of every load, and the median ceiling (images/s): every load, then
    the ceiling, `args.rounds` times over, all servers up throughout (each idle while
    another is loaded). A figure and its baseline are measured back to back (`load_order`),
    first one and then the other first in alternate rounds, after an unrecorded second of
    each load: on a machine whose speed drifts by 10% in a minute, a ratio of runs
    minutes apart, or always in the same order, moved more than the goals' margins."""
    for _, url, payload, concurrency, bearer in loads:  # warm-up: kernels for each batch size
        asyncio.run(load(url, payload, concurrency, 1.0, bearer))
    runs: dict[tuple[str, int], list[dict[str, float]]] = defaultdict(list)
    ceilings = []
    for turn in range(args.rounds):
        for key, url, payload, concurrency, bearer in loads[:: 1 if turn % 2 == 0 else -1]:
            runs[key].append(asyncio.run(load(url, payload, concurrency, args.seconds, bearer)))
        ceilings.append(ceiling(folder, image, args.seconds))
    return {key: median_run(found) for key, found in runs.items()}, statistics.median(ceilings)


def load_order(
    running: dict[str, tuple[subprocess.Popen, int]],
    gateway: str,
    token: str,
    body: bytes,
    v2_body: bytes,
    folder: Path,
) -> list[Load]:
    """Every load, in the order `in_rounds` runs them: for the issue's figures, each next
    to what `record_figures` divides it by (at c=1 the batching replica beside plain
    FastAPI and the gateway, at c=32 the same, the V2 bodies together); the other servers
    first."""

    def direct(name: str, concurrency: int) -> Load:
        url = f"http://127.0.0.1:{running[name][1]}/predict"
        return (name, concurrency), url, body, concurrency, None

    def v2(name: str) -> Load:
        url = f"http://127.0.0.1:{running[name][1]}/v2/models/{folder.name}/infer"
        return (f"{name}, V2 FP32", 1), url, v2_body, 1, None

    ours, plain = "fermion, batching", "plain FastAPI"
    others = [name for name in running if name not in (ours, plain)]
    return [
        *(direct(name, 1) for name in others),
        direct(ours, 1),
        direct(plain, 1),
        (("fermion gateway", 1), gateway, body, 1, token),
        *(direct(name, 32) for name in others),
        direct(plain, 32),
        direct(ours, 32),
        (("fermion gateway", 32), gateway, body, 32, token),
        v2(ours),
        v2(plain),
        *(v2(name) for name in others if name != "fermion, no batching"),
    ]


def median_run(found: list[dict[str, float]]) -> dict[str, float]:
    """The run of median throughput, with its own latencies."""
    return sorted(found, key=lambda r: r["rps"])[len(found) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet18", choices=["resnet18", "small-cnn"])
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_model(Path(tmp) / "model", args.model, args.side)
        image = png(args.side)
        body = json.dumps({"inputs": [base64.b64encode(image).decode()]}).encode()
        (Path(tmp) / "plain.py").write_text(PLAIN_APP)

        def replica(port: int, *flags: str) -> list[str]:
            module = [sys.executable, "-m", "fermion.serving.replica"]
            return [*module, f"--model-dir={folder}", f"--port={port}", *flags]

        batching = ("--max-batch-size=32", "--max-batch-delay-ms=5")
        servers = {
            "fermion, batching": lambda port: replica(port, *batching),
            "fermion, no batching": lambda port: replica(port, "--max-batch-size=1"),
            LIGHT: lambda port: replica(port, *batching, "--runtime=onnx"),
            "plain FastAPI": lambda port: [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                tmp,
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
                "plain:app",
            ],
        }
        # The light replica's graph is exported once per model and machine: before the
        # measured start, as a deployment's later replicas find it.
        env["FERMION_HOME"] = str(Path(tmp) / "replica-home")
        port = free_port()
        warm_up = start(servers[LIGHT](port), port, env)
        warm_up.terminate()
        warm_up.wait(timeout=30)
        started: dict[str, tuple[float, float]] = {}  # seconds to ready, idle RSS in MiB
        running: dict[str, tuple[subprocess.Popen, int]] = {}
        v2_body = v2_float_body(args.side)
        try:
            for name, command in servers.items():  # one after the other, each timed
                port = free_port()
                began = time.perf_counter()
                process = start(command(port), port, {**env, "PLAIN_MODEL": str(folder)})
                running[name] = process, port
                started[name] = (time.perf_counter() - began, rss_mib(process.pid))
            with deployed(folder, Path(tmp) / "home") as (gateway, token):
                loads = load_order(running, gateway, token, body, v2_body, folder)
                results, top = in_rounds(loads, folder, image, args)
        finally:
            for process, _ in running.values():
                process.terminate()
                process.wait(timeout=30)

    print(
        f"\n{args.model} at {args.side}x{args.side}, one PNG per request, 2 threads per server,"
        f" {args.seconds:g} s per run, median of {args.rounds} runs\n"
    )
    print(
        f"{'server':<22}{'conc.':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'vs plain':>10}{'of ceiling':>12}"
    )
    for (name, concurrency), r in results.items():
        plain = results["plain FastAPI", concurrency]["rps"]
        print(
            f"{name:<22}{concurrency:>6}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
            f"{r['errors']:>8.0f}{r['rps'] / plain:>9.2f}x{r['rps'] / top:>11.0%}"
        )
    print(f"{'ceiling (in-process)':<22}{32:>6}{top:>9.1f}   images/s, batches of 32, no HTTP")
    batching = results["fermion, batching", 32]["rps"] / results["fermion, no batching", 32]["rps"]
    print(f"\ndynamic batching at concurrency 32: {batching:.2f}x the same replica without it")
    for concurrency in (1, 32):
        gateway = results["fermion gateway", concurrency]["rps"]
        direct = results["fermion, batching", concurrency]["rps"]
        print(
            f"through the gateway at concurrency {concurrency}: {gateway / direct:.2f}x"
            " calling the replica directly"
        )
    for name, (seconds, rss) in started.items():
        print(f"{name:<22} process start -> ready {seconds:5.2f} s, idle RSS {rss:6.1f} MiB")
    record_figures(results, started, top, args.model)


def record_figures(
    results: dict[tuple[str, int], dict[str, float]],
    started: dict[str, tuple[float, float]],
    ceiling_rps: float,
    model: str,
) -> None:
    def rps(name: str, concurrency: int) -> float:
        return results[name, concurrency]["rps"]

    ours, plain = "fermion, batching", "plain FastAPI"
    figures = [
        (
            "gateway_c32",
            "predict through the gateway / straight to the replica, c=32",
            rps("fermion gateway", 32),
            rps(ours, 32),
            0.95,
            False,
            "req/s",
        ),
        (
            "batching_c1",
            "c=1 req/s, batching on / plain FastAPI forward per request",
            rps(ours, 1),
            rps(plain, 1),
            1.0,
            False,
            "req/s",
        ),
        (
            "batching_c1_p99",
            "c=1 p99, batching on / plain FastAPI",
            results[ours, 1]["p99_ms"],
            results[plain, 1]["p99_ms"],
            1.1,
            True,
            "ms",
        ),
        (
            "batching_c32",
            "c=32 req/s, batching / plain FastAPI",
            rps(ours, 32),
            rps(plain, 32),
            2.0,
            False,
            "req/s",
        ),
        (
            "v2_float_c1",
            "c=1 req/s, V2 JSON FP32 body (62 KB) / plain FastAPI",
            rps(f"{ours}, V2 FP32", 1),
            rps(f"{plain}, V2 FP32", 1),
            1.0,
            False,
            "req/s",
        ),
        (
            "png_c32_ceiling",
            "c=32 PNG samples/s / in-process batched forward (ceiling)",
            rps(ours, 32),
            ceiling_rps,
            0.5,
            False,
            "samples/s",
        ),
    ]
    for key, measure, value, baseline, goal, at_most, unit in figures:
        record(
            f"{key}_{model}",
            f"{measure} [{model}]",
            value / baseline,
            goal,
            at_most=at_most,
            ours=value,
            baseline=baseline,
            unit=unit,
        )
    record(
        f"light_c32_{model}",
        f"c=32 req/s, light replica (ONNX Runtime) / PyTorch replica [{model}]",
        rps(LIGHT, 32) / rps(ours, 32),
        1.0,
        ours=rps(LIGHT, 32),
        baseline=rps(ours, 32),
        unit="req/s",
    )
    for runtime, name in (("light", LIGHT), ("torch", ours)):
        (seconds, rss), (plain_s, plain_rss) = started[name], started[plain]
        record(
            f"cold_start_{runtime}_{model}",
            f"{name}: process start -> ready, s (baseline: plain FastAPI) [{model}]",
            seconds,
            2.5,
            at_most=True,
            ours=seconds,
            baseline=plain_s,
            unit="s",
        )
        record(
            f"idle_rss_{runtime}_{model}",
            f"{name}: idle RSS, MiB (baseline: plain FastAPI) [{model}]",
            rss,
            400,
            at_most=True,
            ours=rss,
            baseline=plain_rss,
            unit="MiB",
        )


if __name__ == "__main__":
    main()
