"""A training script written the way you would write your own: a registered dataset,
a model, AdamW, a loop. Run it as a job on 2 processes:

    fermion job run --nproc 2 --follow -- python train_digits.py --epochs 5
"""

import argparse

import torch
import torch.distributed as dist
from torch import nn

import fermion as fm

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()

distributed = "RANK" in __import__("os").environ
if distributed:
    dist.init_process_group("gloo")

train = fm.Dataset.from_local("digits", split="train")
loader = fm.DataLoader(train, batch_size=32, num_workers=2)

model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),
    nn.ReLU(),
    nn.Flatten(),
    nn.Linear(16 * 8 * 8, train.num_classes),
)
if distributed:
    model = nn.parallel.DistributedDataParallel(model)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()

start = 0
checkpoint = fm.checkpoint_dir() / "last.pt"
if checkpoint.exists():  # a retry of this job resumes here
    state = torch.load(checkpoint)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    start = state["epoch"] + 1

for epoch in range(start, args.epochs):
    total, batches = 0.0, 0
    for images, labels in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        total, batches = total + loss.item(), batches + 1
    print(f"epoch {epoch} loss {total / batches:.4f}", flush=True)
    fm.log({"loss": total / batches}, step=epoch)
    if not distributed or dist.get_rank() == 0:
        tmp = checkpoint.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": epoch}, tmp)  # fmt: skip
        tmp.replace(checkpoint)

if distributed:
    dist.destroy_process_group()  # leave cleanly: a rank exiting with it alive can abort
