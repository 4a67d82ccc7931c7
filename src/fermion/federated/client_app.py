"""The site's Flower ClientApp. It answers the ServerApp's messages on the site: `train`
(the global weights in, a few local epochs on the site's own training split, the new
weights and the number of examples out) and `evaluate` (the global weights scored on a
split of the site's data). Only weights and a handful of numbers leave the site.

The SuperNode runs it with the site job's environment: its Fermion token (which may read
this site's dataset and nothing else) and the node config written by the site job."""

from __future__ import annotations

import os

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fermion.client import Client
from fermion.federated import local, network
from fermion.payloads import FederationPlan

app = ClientApp()


def _setup(msg: Message, context: Context) -> tuple[FederationPlan, torch.nn.Module, dict]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    plan = FederationPlan.read(str(context.node_config["plan"]))
    model = network.build(plan)
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    with Client() as client:
        splits = local.site_splits(plan, str(context.node_config["dataset"]), client)
    return plan, model, splits


@app.train()
def train(msg: Message, context: Context) -> Message:
    plan, model, splits = _setup(msg, context)
    server_round = int(msg.content["config"].get("server-round", 1))
    received = local.evaluate(model, local.loader(splits["validation"], plan, shuffle=False))
    data = local.loader(splits["train"], plan, shuffle=True, seed=server_round)
    loss = local.train(model, data, plan)
    metrics = MetricRecord(
        {
            "num-examples": len(splits["train"]),
            "train-loss": loss,
            # The global model as it came in: last round's result, on this site's data.
            "received-val-accuracy": received["accuracy"],
        }
    )
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics})
    return Message(content=content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """The global model on the splits asked for: `{split}-accuracy`, `-loss`, `-count`."""
    plan, model, splits = _setup(msg, context)
    asked = list(msg.content["config"].get("splits", ["validation"]))
    metrics: dict[str, float] = {}
    for split in asked:
        found = local.evaluate(model, local.loader(splits[split], plan, shuffle=False))
        metrics |= {f"{split}-{key}": value for key, value in found.items()}
    metrics["num-examples"] = metrics[f"{asked[0]}-count"]
    return Message(content=RecordDict({"metrics": MetricRecord(metrics)}), reply_to=msg)
