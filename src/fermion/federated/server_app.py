"""The federation's Flower ServerApp, run by the coordinator job's SuperLink: FedAvg (or
FedProx) over every site each round, optionally with differential privacy (each site's
update clipped to a fixed norm, Gaussian noise added to the aggregate); each round's
metrics go to the coordinator job's live charts; at the end the global model is scored
on every site's test split, written as a model folder and registered."""

from __future__ import annotations

import os
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import (
    DifferentialPrivacyServerSideFixedClipping,
    FedAvg,
    FedProx,
    Strategy,
)

import fermion.runtime as fm
from fermion import modelfile
from fermion.client import Client
from fermion.federated import network
from fermion.payloads import FederationPlan

app = ServerApp()
SCORED = ("validation", "test")


class Reported:
    """Every site answers every round, or the run fails naming why; each round's
    aggregated metrics are logged to the coordinator job. A site scores the global model
    it receives before training on it, so round r's message carries the validation
    accuracy of round r-1's model (of the initial one for round 1)."""

    sites: int = 0  # how many must answer every round

    def aggregate_train(self, server_round: int, replies: Any) -> Any:
        replies = list(replies)
        problems = [f"a site failed: {r.error.reason}" for r in replies if r.has_error()]
        if len(replies) < self.sites:
            problems.append(f"{self.sites - len(replies)} of {self.sites} sites did not answer")
        if problems:  # an average without some site's data is not what was asked for
            raise RuntimeError(f"round {server_round}: " + "; ".join(problems))
        arrays, metrics = super().aggregate_train(server_round, replies)  # type: ignore[misc]
        if metrics:
            fm.log({"train/loss": metrics["train-loss"]}, step=server_round)
            fm.log({"val/accuracy": metrics["received-val-accuracy"]}, step=server_round - 1)
            print(
                f"round {server_round}: train loss {metrics['train-loss']:.4f}; validation"
                f" accuracy of the model it started from {metrics['received-val-accuracy']:.4f}",
                flush=True,
            )
        return arrays, metrics


class ReportedFedAvg(Reported, FedAvg):
    pass


class ReportedFedProx(Reported, FedProx):
    pass


def strategy_for(plan: FederationPlan) -> Strategy:
    every = len(plan.sites)  # every site takes part in every round
    nodes = {
        "min_train_nodes": every,
        "min_available_nodes": every,
        "fraction_evaluate": 0.0,  # sites score the model they receive; see Reported
    }
    if plan.strategy == "fedprox":
        reported: Reported = ReportedFedProx(proximal_mu=plan.proximal_mu, **nodes)
    else:
        reported = ReportedFedAvg(**nodes)
    reported.sites = every
    strategy: Strategy = reported  # type: ignore[assignment]
    if plan.privacy:
        strategy = DifferentialPrivacyServerSideFixedClipping(
            strategy,
            noise_multiplier=plan.privacy.noise_multiplier,
            clipping_norm=plan.privacy.clipping_norm,
            num_sampled_clients=every,
        )
    return strategy


def score_everywhere(grid: Grid, arrays: ArrayRecord, timeout: float) -> dict[str, dict]:
    """The global model on every site's validation and test splits, weighted by size."""
    config = ConfigRecord({"splits": list(SCORED)})
    messages = [
        Message(
            RecordDict({"arrays": arrays, "config": config}),
            dst_node_id=node,
            message_type=MessageType.EVALUATE,
        )
        for node in grid.get_node_ids()
    ]
    replies = [r for r in grid.send_and_receive(messages, timeout=timeout) if not r.has_error()]
    found = [r.content["metrics"] for r in replies]
    scores = {}
    for split in SCORED:
        count = sum(m[f"{split}-count"] for m in found)
        if count:
            scores[split] = {
                key: sum(m[f"{split}-{key}"] * m[f"{split}-count"] for m in found) / count
                for key in ("accuracy", "loss")
            } | {"count": count, "sites": len(found)}
    return scores


@app.main()
def main(grid: Grid, context: Context) -> None:
    plan = FederationPlan.read(str(context.run_config["plan"]))
    torch.manual_seed(plan.seed)
    model = network.build(plan)
    strategy = strategy_for(plan)
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(model.state_dict()),
        num_rounds=plan.rounds,
        timeout=plan.round_timeout_s,
    )
    model.load_state_dict(result.arrays.to_torch_state_dict())
    scores = score_everywhere(grid, result.arrays, plan.round_timeout_s)
    for split, found in scores.items():
        prefix = "val" if split == "validation" else split
        fm.log({f"{prefix}/{k}": found[k] for k in ("accuracy", "loss")}, step=plan.rounds)
        print(f"the global model on the sites' {split} splits: accuracy {found['accuracy']:.4f}")
    summary = {
        "rounds": plan.rounds,
        "strategy": plan.strategy,
        "test": scores.get("test", {}),
        "validation": scores.get("validation", {}),
        "history": {r: dict(m) for r, m in result.train_metrics_clientapp.items()},
    }
    folder = fm.artifacts_dir() / "model"
    modelfile.save(
        folder, model, network.model_spec(plan), plan.classes, network.preprocessing(plan), summary
    )
    fm.flush()
    job_id = fm.job_id()
    if job_id is not None and (
        os.environ.get("FERMION_TOKEN_FILE") or os.environ.get("FERMION_TOKEN")
    ):
        with Client() as client:
            version = client.register_job_model(job_id, plan.name)
        print(f"registered model {version.ref}", flush=True)
