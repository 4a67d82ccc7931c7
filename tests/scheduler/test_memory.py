"""How an attempt's memory is counted against its limit: shared pages once (PSS), and
the memory maps read only when the cheap resident sum comes near the limit."""

import contextlib
import subprocess
import sys
import time

import psutil
import pytest

from fermion.scheduler.local import memory_of

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


def test_shared_pages_count_once_near_the_limit(sharing_tree):
    exact = memory_of(sharing_tree)
    assert 200 * MIB <= exact < 320 * MIB
    # The resident sum (over 400 MiB) passes a 320 MiB limit, so the maps are read and the
    # tree is within its limit: a job whose ranks share torch is not killed for it.
    assert 200 * MIB <= memory_of(sharing_tree, limit=320 * MIB) < 320 * MIB


def test_far_below_the_limit_the_resident_sum_stands_in(sharing_tree):
    upper = memory_of(sharing_tree, limit=8 * 1024 * MIB)
    assert upper >= 400 * MIB  # both processes' resident pages: a bound, not the count
    assert upper >= memory_of(sharing_tree)
