"""Small value parsers users type: refs, sizes, dataset types, split fractions."""

from __future__ import annotations

import pytest

from fermion import InvalidInput
from fermion.payloads import DatasetCreate, DatasetType, build
from fermion.refs import format_ref, parse_ref
from fermion.resources import Resources, format_memory, parse_memory, place


@pytest.mark.parametrize(
    "ref,expected",
    [
        ("digits", ("digits", None)),
        ("digits:v3", ("digits", 3)),
        ("digits:3", ("digits", 3)),
        ("digits:latest", ("digits", None)),
        ("my_data.v2-x:v10", ("my_data.v2-x", 10)),
    ],
)
def test_parse_ref(ref, expected):
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", ":v1", "digits:vx", "a b", "digits:v1:v2", "../etc"])
def test_bad_refs_say_how_to_write_one(ref):
    with pytest.raises(InvalidInput, match="NAME:v3"):
        parse_ref(ref)


def test_format_ref_round_trips():
    assert parse_ref(format_ref("digits", 4)) == ("digits", 4)


@pytest.mark.parametrize(
    "text,size",
    [
        ("8Gi", 8 * 1024**3),
        ("512Mi", 512 * 1024**2),
        ("2G", 2 * 10**9),
        ("1024", 1024),
        ("1.5Gi", int(1.5 * 1024**3)),
        ("4gib", 4 * 1024**3),
    ],
)
def test_parse_memory(text, size):
    assert parse_memory(text) == size


def test_memory_round_trips_and_refuses_nonsense():
    assert format_memory(parse_memory("8Gi")) == "8Gi"
    with pytest.raises(InvalidInput, match="512Mi"):
        parse_memory("eight gigs")


@pytest.mark.parametrize(
    "text",
    [
        "image-classification",
        "image classification",
        "IMAGE_CLASSIFICATION",
        " Image  Classification ",
    ],
)
def test_dataset_type_spellings(text):
    assert DatasetType.parse(text) is DatasetType.IMAGE_CLASSIFICATION


def test_split_fractions():
    ok = build(DatasetCreate, name="d", type="text classification", source="/x", split=[0.9, 0.1])
    assert ok.split == [0.9, 0.1, 0.0]
    for bad in ([0.5, 0.1, 0.1], [0, 0.5, 0.5], [1.2, -0.2, 0], [0.2] * 5):
        with pytest.raises(InvalidInput, match="split"):
            build(DatasetCreate, name="d", type="text-classification", source="/x", split=bad)


def test_a_job_of_several_nodes_is_placed_one_node_each_with_room():
    free = [Resources(cpu=0.5, memory=4), Resources(cpu=1, memory=4), Resources(cpu=2, memory=1)]
    # 0.75 CPU and 2 bytes on each of 2 nodes: only the second has both; the totals would.
    assert place(Resources(cpu=0.75, memory=2), 2, free) is None
    assert place(Resources(cpu=0.75, memory=2), 1, free) == [1]
    assert place(Resources(cpu=0.5, memory=1), 2, free) == [2, 1]  # the most CPU first
