"""The hand-written training loop of bench/train.py, under torchrun with DDP over gloo:
what `fermion train --nproc N` is measured against.

    torchrun --nproc-per-node N -m bench.plain_ddp CONFIG.json RESULT.json

Same data pipeline (fermion.training.data), model, batch per process, AdamW and loader
workers as the trainer; no Accelerate, no metrics, no checkpoints. Rank 0 writes the
samples/s of the last epoch, over all ranks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from bench.hand_loop import samples_per_second
from fermion.client import Client
from fermion.training.config import TrainConfig
from fermion.training.data import build_data
from fermion.training.loop import build_model
from fermion.training.optim import make_optimizer


def main(config_path: str, result_path: str) -> None:
    config = TrainConfig.from_dict(json.loads(Path(config_path).read_text()))
    dist.init_process_group("gloo")
    torch.manual_seed(config.seed)
    with Client() as client:
        data = build_data(config, client)
    model = DistributedDataParallel(build_model(config, data, Path(".")))
    optimizer = make_optimizer(model, "adamw", config.lr, config.weight_decay)
    sampler = DistributedSampler(data.train, shuffle=True, seed=config.seed)
    train_loader = DataLoader(
        data.train,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=2,
        collate_fn=data.collate,
    )
    rate = samples_per_second(
        model,
        optimizer,
        train_loader,
        config.epochs,
        world_size=dist.get_world_size(),
        before_epoch=sampler.set_epoch,
    )
    if dist.get_rank() == 0:
        Path(result_path).write_text(json.dumps({"samples_per_s": rate}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:3])
