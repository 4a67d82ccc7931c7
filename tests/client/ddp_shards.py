"""Run under torchrun by test_distributed.py: records which rows each rank sees."""

import json
import sys

import torch.distributed as dist

import fermion as fm

dist.init_process_group("gloo")
rank = dist.get_rank()
dataset = fm.Dataset.from_local("ddp-rows", split="train")
loader = fm.DataLoader(dataset, batch_size=8, num_workers=2)
epochs = [[int(v) for x, _ in loader for v in x[:, 0].tolist()] for _ in range(2)]
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
    json.dump({"world": dist.get_world_size(), "epochs": epochs}, f)
dist.destroy_process_group()
