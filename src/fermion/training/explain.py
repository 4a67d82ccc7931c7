"""`python -m fermion.training.explain explain.json`, inside a job: one input's answer
from a registered model, explained (fermion.explain); the Explanation is written as the
job's artifact `explanation.json`, which `POST /models/{name}/explain` answers with.

A model folder may hold its user's code (`code/net.py`), so a model is only ever loaded
in a job or a replica, never in the server."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from fermion.client import Client
from fermion.errors import EXIT_UNRECOVERABLE, FermionError
from fermion.explain import Explainer
from fermion.modelfile import load
from fermion.runtime import artifacts_dir

RESULT_FILE = "explanation.json"


def run(spec: dict) -> None:
    with Client() as client:
        model = load(client.fetch_model(spec["model"]))
    explainer = Explainer(model, name=spec["model"])
    found = explainer.explain(spec["input"], spec.get("target"), spec.get("method"))
    out = artifacts_dir()
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{RESULT_FILE}.tmp"
    tmp.write_text(found.model_dump_json())
    os.replace(tmp, out / RESULT_FILE)  # a reader never sees half of it
    print(
        f"explained {found.target or 'the value'} ({found.score:.4f}) of {spec['model']}"
        f" with {found.method} in {found.seconds:.2f} s",
        flush=True,
    )


def main(argv: list[str]) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    spec = json.loads(Path(argv[0]).read_text())
    try:
        run(spec)
    except FermionError as exc:  # the input is wrong: one clear line, and no retry
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return EXIT_UNRECOVERABLE
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
