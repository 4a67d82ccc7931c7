"""Autoscaling on a real server: load from client threads through the gateway adds a
replica, quiet takes it away, and a deployment scaled to zero wakes for a request.
Bounded: four clients, for as long as the second replica takes to be ready."""

from __future__ import annotations

import base64
import contextlib

import httpx
import pytest
from typer.testing import CliRunner

import fermion as fm
from tests.conftest import Cli
from tests.scheduler.conftest import wait_for
from tests.serving.conftest import IMAGE, Traffic, remove


def test_replicas_follow_the_load(sdk, serving_server, digits_models):
    cli = Cli(serving_server, CliRunner())
    with pytest.raises(fm.errors.InvalidInput, match="more than max_replicas"):
        sdk.deploy(digits_models[0], name="elastic", min_replicas=3, max_replicas=2)
    sdk.deploy(
        digits_models[0],
        name="elastic",
        max_replicas=2,
        target_concurrency=1.5,
        scale_down_delay_s=4,
        cpu=0.5,
    )
    started = sdk.wait_deployment("elastic", timeout=120)
    assert started.status == "ready" and started.replicas == 1
    with pytest.raises(fm.errors.Conflict, match="scales itself between 1 and 2"):
        sdk.scale_deployment("elastic", 2)

    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(Traffic(sdk, "elastic")) for _ in range(4)]
        wait_for(
            lambda: sdk.get_deployment("elastic").ready_replicas == 2,
            timeout=120,
            what="a second replica for four clients",
        )
        assert sdk.get_deployment("elastic").in_flight > 1.5  # what it scaled on
        answered_before = sum(len(c.models) for c in clients)
        wait_for(
            lambda: sum(len(c.models) for c in clients) > answered_before + 20,
            timeout=60,
            what="answers from both replicas",
        )
    assert [f for c in clients for f in c.failures] == []

    quiet = wait_for(
        lambda: (d := sdk.get_deployment("elastic")).replicas == 1 and d,
        timeout=60,
        what="back to one replica after the load",
    )
    shown = cli("deployment", "show", "elastic").output
    assert "1 to 2 replicas, 1.5 requests in flight each" in shown
    assert "1 -> 2" in shown and "2 -> 1" in shown
    steps = [(e.before, e.after) for e in quiet.scale_events]
    assert steps == [(1, 2), (2, 1)], quiet.scale_events
    assert "requests in flight" in quiet.scale_events[0].reason
    assert "would have done for 4 s" in quiet.scale_events[1].reason
    remove(sdk, "elastic")


def test_an_idle_deployment_scales_to_zero_and_a_request_wakes_it(sdk, digits_models):
    sdk.deploy(
        digits_models[0], name="sleepy", min_replicas=0, max_replicas=1, scale_down_delay_s=2
    )
    asleep = wait_for(
        lambda: (
            (d := sdk.get_deployment("sleepy")).status == "idle" and not d.replica_details and d
        ),
        timeout=120,
        what="no replica while idle",
    )
    assert asleep.replicas == 0 and asleep.scale_events[-1].after == 0
    answer = httpx.post(
        f"{sdk.url}/api/v1/deployments/sleepy/predict",
        json={"inputs": [base64.b64encode(IMAGE).decode()]},
        headers={"Authorization": f"Bearer {sdk.token}"},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == digits_models[0]
    awake = sdk.get_deployment("sleepy")
    assert (awake.scale_events[-1].before, awake.scale_events[-1].after) == (0, 1)
    off = sdk.autoscale_deployment("sleepy")  # no bounds: by hand from now on
    assert off.autoscaling is None and off.replicas >= 1
    remove(sdk, "sleepy")
