"""`python -m fermion.serving.convert spec.json`, inside a job: a registered model made
ready to serve elsewhere (export to TorchScript or ONNX, checked against PyTorch), or a
model trained elsewhere made ready to serve here (import: a torchvision state dict or a
Hugging Face folder, shipped as the job's code, written as a model folder, checked by
predicting on an example, and registered from the job)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from fermion.client import Client
from fermion.dataset_types import DatasetType
from fermion.errors import EXIT_UNRECOVERABLE, FermionError, InvalidInput
from fermion.modelfile import export, importing
from fermion.runtime import artifacts_dir, job_id

EXPORT_FOLDER = "export"  # under the job's artifacts; the CLI downloads it
IMPORT_FOLDER = "model"
RESULT_FILE = "export.json"


def export_model(client: Client, spec: dict[str, Any]) -> None:
    print(f"exporting {spec['model']} as {spec['format']}", flush=True)
    folder = client.fetch_model(spec["model"])
    result = export.export(folder, spec["format"], artifacts_dir() / EXPORT_FOLDER)
    described = {**export.describe(result), "file": result.file.name, "folder": "."}
    (result.folder / RESULT_FILE).write_text(json.dumps(described, indent=2))
    print(
        f"exported {result.file.name}; largest difference from PyTorch on inputs it"
        f" had not seen: {result.max_difference:.2e}",
        flush=True,
    )


def import_model(client: Client, spec: dict[str, Any]) -> None:
    source, dest = Path.cwd(), artifacts_dir() / IMPORT_FOLDER
    labels = source / spec["labels"] if spec.get("labels") else None
    kind = DatasetType(spec["type"])
    print(f"importing {kind.value} model {spec['name']}", flush=True)
    if kind is DatasetType.IMAGE_CLASSIFICATION:
        if not spec.get("model"):
            raise InvalidInput("image models need --model, the architecture (e.g. resnet18)")
        importing.image_model(
            source, dest, spec["model"], spec["image_size"], labels, origin=spec.get("origin")
        )
    elif kind is DatasetType.TEXT_CLASSIFICATION:
        importing.text_model(source, dest, labels, origin=spec.get("origin"))
    else:
        raise InvalidInput(
            f"import takes image-classification or text-classification models, not {kind.value}"
        )
    version = client.register_job_model(job_id(), spec["name"], folder=IMPORT_FOLDER)
    print(f"registered model {version.ref}", flush=True)


def main(argv: list[str]) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    spec = json.loads(Path(argv[0]).read_text())
    try:
        with Client() as client:
            (export_model if spec["action"] == "export" else import_model)(client, spec)
    except FermionError as exc:  # the input is wrong: one clear line, and no retry
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return EXIT_UNRECOVERABLE
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
