"""The ServerApp's rounds, on replies made here: the size-weighted average, and a round
that fails when a site failed or did not answer (rather than averaging without it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from flwr.app import ArrayRecord, Error, Message, MetricRecord, RecordDict
from flwr.supercore.task_identity import TaskIdentity

from fermion.federated.server_app import ReportedFedAvg


@pytest.fixture()
def strategy(monkeypatch, tmp_path) -> Iterator[ReportedFedAvg]:
    monkeypatch.setenv("FERMION_JOB_DIR", str(tmp_path))  # fm.log's events land here
    TaskIdentity.run_id = TaskIdentity.task_id = TaskIdentity.node_id = 1  # as in a run
    found = ReportedFedAvg(min_train_nodes=2, min_available_nodes=2, fraction_evaluate=0.0)
    found.sites = 2
    yield found
    TaskIdentity.run_id = TaskIdentity.task_id = TaskIdentity.node_id = None


def replies(*weights: tuple[float, int]) -> list[Message]:
    found = []
    for node, (value, examples) in enumerate(weights, start=1):
        asked = Message(RecordDict({}), dst_node_id=node, message_type="train")
        metrics = {"num-examples": examples, "train-loss": value, "received-val-accuracy": 0.5}
        content = {"arrays": ArrayRecord({"w": torch.full((2,), value)})}
        content["metrics"] = MetricRecord(metrics)
        found.append(Message(RecordDict(content), reply_to=asked))
    return found


def test_the_average_is_weighted_by_each_sites_examples(strategy):
    arrays, metrics = strategy.aggregate_train(1, replies((1.0, 10), (4.0, 20)))
    assert arrays.to_torch_state_dict()["w"].tolist() == [3.0, 3.0]
    assert metrics["train-loss"] == pytest.approx(3.0)


def test_a_round_fails_when_a_site_fails_or_is_silent(strategy):
    good = replies((1.0, 10))[0]
    failed = Message(Error(code=0, reason="dataset missing"), reply_to=good)
    with pytest.raises(RuntimeError, match=r"round 2: a site failed: dataset missing"):
        strategy.aggregate_train(2, [good, failed])
    with pytest.raises(RuntimeError, match="1 of 2 sites did not answer"):
        strategy.aggregate_train(2, [good])
