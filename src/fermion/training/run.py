"""`python -m fermion.training.run train.json`: the built-in trainer, inside a job."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch.distributed

from fermion.client import Client
from fermion.errors import FermionError
from fermion.runtime import artifacts_dir, flush
from fermion.training.config import TrainConfig
from fermion.training.detection import DetectionTrainer
from fermion.training.loop import Trainer
from fermion.training.ranking import RankingTrainer

TRAINERS = {"recommendation": RankingTrainer, "object-detection": DetectionTrainer}


def main(argv: list[str]) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from local folders only
    config = TrainConfig.from_dict(json.loads(Path(argv[0]).read_text()))
    code_dir = Path.cwd()
    out_dir = artifacts_dir()
    try:
        with Client() as client:
            trainer = TRAINERS.get(config.dataset_type, Trainer)
            trainer(config, client, code_dir, out_dir).run()
    except FermionError as exc:  # one clear line in the job's log, not a traceback
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return 1
    flush()
    # Leave the process group before exiting: a rank that exits with it alive can abort
    # in gloo's teardown ("terminate called without an active exception").
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
