"""Text models on light replicas, against the PyTorch replica of the same folder.

    python -m bench.text_replica [--seconds 5]

For Fermion's small Transformer (word tokenizer) and a tiny BERT imported from a
Hugging Face folder (fast tokenizer): process start -> ready and idle RSS of a replica
with `--runtime onnx` and with `--runtime torch`, and c=1 / c=32 req/s of one short
review per request. The ONNX graph is exported before the measured start, as a
deployment's later replicas find it cached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.results import record
from bench.serve import free_port, load, rss_mib, start

REVIEW = "a great movie with a boring plot, but fun"


def word_model(folder: Path) -> Path:
    import torch

    from fermion import modelfile
    from fermion.modelfile import architectures

    torch.manual_seed(0)
    vocab = sorted(set(REVIEW.replace(",", "").split()))
    network = architectures.SmallTransformer(len(vocab) + 2, 2, max_len=64)
    pre = modelfile.WordPreprocessing(vocab=vocab, max_len=64)
    spec = modelfile.ModelSpec(dataset_type="text-classification", model="small-transformer")
    return modelfile.save(folder, network, spec, ["neg", "pos"], pre)


def bert_model(folder: Path) -> Path:
    from tests.training.test_bert import tiny_bert

    from fermion.modelfile import importing

    source = tiny_bert(folder.with_name("tiny-bert-source"), [REVIEW])
    return importing.text_model(Path(source), folder, max_len=64)


def measure(folder: Path, runtime: str, env: dict[str, str], seconds: float) -> dict[str, float]:
    port = free_port()
    command = [sys.executable, "-m", "fermion.serving.replica", f"--model-dir={folder}"]
    command += [f"--port={port}", f"--runtime={runtime}", "--max-batch-delay-ms=5"]
    began = time.perf_counter()
    process = start(command, port, env)
    figures = {"start_s": time.perf_counter() - began, "rss_mib": rss_mib(process.pid)}
    body = json.dumps({"inputs": [REVIEW]}).encode()
    try:
        for concurrency in (1, 32):
            url = f"http://127.0.0.1:{port}/predict"
            figures[f"c{concurrency}"] = asyncio.run(load(url, body, concurrency, seconds))["rps"]
    finally:
        process.terminate()
        process.wait(timeout=30)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    with tempfile.TemporaryDirectory() as tmp:
        env["FERMION_HOME"] = str(Path(tmp) / "home")
        print(f"\ntext replicas, one review per request, {args.seconds:g} s per run")
        print(
            f"{'model':<20}{'runtime':<9}{'start s':>9}{'RSS MiB':>9}{'c=1 req/s':>11}{'c=32':>9}"
        )
        for name, make in (("small-transformer", word_model), ("tiny-bert", bert_model)):
            folder = make(Path(tmp) / name)
            measure(folder, "onnx", env, 0.5)  # exports the graph to the cache
            by_runtime = {rt: measure(folder, rt, env, args.seconds) for rt in ("onnx", "torch")}
            for runtime, f in by_runtime.items():
                print(
                    f"{name:<20}{runtime:<9}{f['start_s']:>9.2f}{f['rss_mib']:>9.1f}"
                    f"{f['c1']:>11.1f}{f['c32']:>9.1f}"
                )
            record_figures(name, by_runtime["onnx"], by_runtime["torch"])


def record_figures(name: str, light: dict[str, float], full: dict[str, float]) -> None:
    for key, measure_, value, goal, at_most, unit in (
        ("cold_start_light", "light replica: process start -> ready, s", "start_s", 2.5, True, "s"),
        ("idle_rss_light", "light replica: idle RSS, MiB", "rss_mib", 400, True, "MiB"),
        ("light_c32", "c=32 req/s, light replica", "c32", 1.0, False, "req/s"),
    ):
        ratio = key == "light_c32"
        record(
            f"{key}_{name}",
            f"{measure_} (baseline: PyTorch replica) [{name}]",
            light[value] / full[value] if ratio else light[value],
            goal,
            at_most=at_most,
            ours=light[value],
            baseline=full[value],
            unit=unit,
        )


if __name__ == "__main__":
    main()
