"""`python -m fermion.training.evaluate evaluate.json`: evaluate a registered model on
a split of a registered dataset, inside a job; the result is added to the model
version's evaluations.

Inputs go through the same preprocessing as in serving (modelfile/inputs.py), from the
stored records, so the figures say what a deployment of the model would do."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from fermion.client import Client
from fermion.datasets.loading import Dataset
from fermion.errors import FermionError, InvalidInput
from fermion.modelfile import LoadedModel, TabularPreprocessing, load
from fermion.modelfile.inputs import Preprocessor
from fermion.modelfile.schema import TEXT_KINDS
from fermion.training.metrics import classification_metrics, regression_metrics

BATCH = 256
IMPORTANCE_RECORDS = 5000  # records the global importance is measured on, at most


def raw_inputs(dataset: Dataset, model: LoadedModel, rows: dict[str, list]) -> list[Any]:
    spec = model.preprocessing
    if spec.kind == "image":
        return [image["bytes"] for image in rows["image"]]
    if spec.kind in ("audio", "hf-audio"):
        return rows["audio"]
    if spec.kind in TEXT_KINDS:
        return rows["text"]
    assert isinstance(spec, TabularPreprocessing)
    columns = spec.feature_columns
    missing = [c for c in columns if c not in rows]
    if missing:
        raise InvalidInput(
            f"{dataset.info.ref} has no column {', '.join(missing)}, which the model takes"
        )
    return [
        dict(zip(columns, values, strict=True))
        for values in zip(*(rows[c] for c in columns), strict=True)
    ]


def evaluate(model: LoadedModel, dataset: Dataset) -> dict[str, Any]:
    pre = Preprocessor(model)
    index = {label: i for i, label in enumerate(model.labels)}
    if not model.regression:
        unknown = sorted({str(c) for c in dataset.classes} - set(index))
        if unknown:
            raise InvalidInput(
                f"{dataset.info.ref} has classes the model does not know: {', '.join(unknown[:10])}"
            )
    outputs, targets = [], []
    for start in range(0, len(dataset.table), BATCH):
        rows = dataset.table[start : start + BATCH]
        items = [
            pre.prepare(v, f"record {start + i}")
            for i, v in enumerate(raw_inputs(dataset, model, rows))
        ]
        with torch.inference_mode():
            outputs.append(model.network(pre.collate(items)).float())
        labels = rows[dataset.label_column]
        if model.regression:
            targets.append(torch.tensor(labels, dtype=torch.float32))
        else:
            targets.append(torch.tensor([index[str(label)] for label in labels]))
    out, y = torch.cat(outputs), torch.cat(targets)
    if model.regression:
        return {**regression_metrics(out.reshape(-1), y), "records": len(y)}
    loss = torch.nn.functional.cross_entropy(out, y).item()
    return {
        "loss": loss,
        "records": len(y),
        **classification_metrics(out, y, model.labels, with_details=True),
    }


def main(argv: list[str]) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    spec = json.loads(Path(argv[0]).read_text())
    try:
        return run(spec)
    except FermionError as exc:  # a clear line in the job's log, not a traceback
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return 1


def importance_report(model: LoadedModel, dataset: Dataset) -> dict[str, Any]:
    """The model's global importance (fermion.explain.importance) on an even sample of
    the split, of at most IMPORTANCE_RECORDS records."""
    from fermion.explain import Explainer, importance

    count = len(dataset.table)
    picked = list(range(0, count, max(1, count // IMPORTANCE_RECORDS)))[:IMPORTANCE_RECORDS]
    rows = dataset.table.select(picked)[:]
    values = raw_inputs(dataset, model, rows)
    return importance.report(Explainer(model), values, rows[dataset.label_column])


def run(spec: dict[str, Any]) -> int:
    with Client() as client:
        print(f"evaluating {spec['model']} on {spec['dataset']} ({spec['split']})", flush=True)
        model = load(client.fetch_model(spec["model"]))
        dataset = Dataset.from_local(spec["dataset"], spec["split"], client=client)
        if model.ranking:
            from fermion.training.ranking import evaluate_recommender

            metrics = evaluate_recommender(model, dataset, client)
        elif model.detection:
            from fermion.training.detection import evaluate_detector

            metrics = evaluate_detector(model, dataset)
        else:
            metrics = evaluate(model, dataset)
        headline = {k: v for k, v in metrics.items() if isinstance(v, float)}
        print(", ".join(f"{k} {v:.4f}" for k, v in headline.items()), flush=True)
        found = None
        if spec.get("importance"):
            found = importance_report(model, dataset)
            print(f"global importance measured ({found['method']})", flush=True)
        client.record_evaluation(
            spec["model"], spec["dataset"], spec["split"], metrics, importance=found
        )
        print(f"recorded with {spec['model']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
