"""How an attempt's memory is counted against its limit: shared pages once (PSS), and
the memory maps read only when the cheap readings come near the limit."""

import contextlib
import subprocess
import sys
import time

import psutil
import pytest

from fermion.scheduler.memory import EXACT_EVERY_S, MemoryGauge, proportional_of

MIB = 1024 * 1024
SHARING = """
import os, sys, time
block = bytearray(200 * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
if os.fork() == 0:  # the child shares every page of the block until it writes one
    time.sleep(60)
    os._exit(0)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def sharing_tree():
    """A parent and a forked child sharing 200 MiB: resident in both, proportional once."""
    parent = subprocess.Popen([sys.executable, "-c", SHARING], stdout=subprocess.PIPE, text=True)
    process = psutil.Process(parent.pid)
    children: list[psutil.Process] = []
    try:
        assert parent.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while not children and time.monotonic() < deadline:
            children = process.children()
            time.sleep(0.05)
        assert len(children) == 1, "the forked child did not appear"
        yield [process, *children]
    finally:
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        parent.kill()
        parent.wait()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_shared_pages_count_once_near_the_limit(sharing_tree):
    exact = proportional_of(sharing_tree)
    assert 200 * MIB <= exact < 320 * MIB
    # The resident sum (over 400 MiB) passes a 320 MiB limit, so the maps are read and the
    # tree is within its limit: a job whose ranks share torch is not killed for it.
    gauge = MemoryGauge()
    assert 200 * MIB <= gauge.read(sharing_tree, limit=320 * MIB) < 320 * MIB
    assert gauge.exact_readings == 1


def test_far_below_the_limit_the_resident_sum_stands_in(sharing_tree):
    gauge = MemoryGauge()
    upper = gauge.read(sharing_tree, limit=8 * 1024 * MIB)
    assert upper >= 400 * MIB  # both processes' resident pages: a bound, not the count
    assert upper >= proportional_of(sharing_tree)
    assert gauge.exact_readings == 0


def test_past_the_resident_bound_the_maps_are_read_again_only_when_due(sharing_tree):
    """Near the limit the gauge reads PSS once, then lets the last reading stand in (plus
    what the resident sum grew) for up to EXACT_EVERY_S while it is well under the limit;
    an estimate close to the limit is checked at once."""
    clock = Clock()
    gauge = MemoryGauge(clock)
    roomy = 400 * MIB  # over the resident sum's ~200 MiB share of it: estimates do
    first = gauge.read(sharing_tree, limit=roomy)
    for second in range(1, int(EXACT_EVERY_S)):
        clock.now = second
        assert abs(gauge.read(sharing_tree, limit=roomy) - first) < 16 * MIB
    assert gauge.exact_readings == 1
    clock.now = EXACT_EVERY_S
    gauge.read(sharing_tree, limit=roomy)
    assert gauge.exact_readings == 2

    tight = int(first / 0.95)  # the estimate is over 90% of this limit: read every time
    for _ in range(3):
        assert gauge.read(sharing_tree, limit=tight) <= tight
    assert gauge.exact_readings == 5
