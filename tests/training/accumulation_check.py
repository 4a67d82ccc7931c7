"""Run by test_accumulation.py, alone or under torchrun: one optimizer step made of
`accum` micro-batches through the trainer's own train_step. Writes the parameters after
the step and how many gradient all-reduces DDP made."""

import json
import os
import sys

import torch
from accelerate import Accelerator
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

from fermion.training.loop import train_step

total_batch, accum, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
accelerator = Accelerator(cpu=True, gradient_accumulation_steps=accum)
rank, world = accelerator.process_index, accelerator.num_processes

torch.manual_seed(0)
x_all, y_all = torch.randn(total_batch, 10), torch.randint(0, 3, (total_batch,))
model = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 3))  # no dropout
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)  # the update is the gradient itself
model, optimizer = accelerator.prepare(model, optimizer)

reduces = []
if world > 1:

    def counting_hook(state, bucket):
        reduces.append(1)
        return default_hooks.allreduce_hook(state, bucket)

    model.register_comm_hook(None, counting_hook)

loss_fn = nn.CrossEntropyLoss()
share = total_batch // world
x_rank, y_rank = x_all[rank * share : (rank + 1) * share], y_all[rank * share : (rank + 1) * share]
micro = share // accum
for i in range(accum):
    part = slice(i * micro, (i + 1) * micro)
    train_step(
        accelerator,
        model,
        optimizer,
        lambda x, y: loss_fn(model(x), y),
        x_rank[part],
        y_rank[part],
        max_grad_norm=None,
    )

if accelerator.is_main_process:
    params = [p.detach().flatten().tolist() for p in accelerator.unwrap_model(model).parameters()]
    with open(out, "w") as f:
        json.dump({"params": params, "all_reduces": len(reduces)}, f)

accelerator.wait_for_everyone()
if world > 1:
    torch.distributed.destroy_process_group()
    # Leave without running C++ static destructors: under load, gloo's teardown with a
    # Python comm hook registered still aborted a rank now and then ("terminate called
    # without an active exception", once in a CI run) after all the work was done.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
