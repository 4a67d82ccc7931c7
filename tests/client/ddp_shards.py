"""Run under torchrun by test_distributed.py: records which rows each rank sees.

    ddp_shards.py OUT_DIR DATASET

A row's identity is its first feature (tabular) or its first pixel (images, whose
stored pixels the loader batches)."""

import json
import sys

import torch.distributed as dist

import fermion as fm

dist.init_process_group("gloo")
rank = dist.get_rank()
dataset = fm.Dataset.from_local(sys.argv[2], split="train", normalize=False)
loader = fm.DataLoader(dataset, batch_size=8, num_workers=2)


def identities(x):
    if x.ndim == 4:  # images in [0, 1]: the first pixel holds the row's number
        return [round(v * 255) for v in x[:, 0, 0, 0].tolist()]
    return [int(v) for v in x[:, 0].tolist()]


epochs = [[i for x, _ in loader for i in identities(x)] for _ in range(2)]
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
    json.dump({"world": dist.get_world_size(), "epochs": epochs}, f)
dist.destroy_process_group()
