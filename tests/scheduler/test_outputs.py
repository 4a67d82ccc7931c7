"""Copying a job's model folder: plain files and folders only, never through a link."""

import os

import pytest

from fermion.errors import Forbidden, InvalidInput
from fermion.scheduler.outputs import copy_job_folder


@pytest.fixture
def output(tmp_path):
    model = tmp_path / "output" / "runs" / "model"
    (model / "tokenizer").mkdir(parents=True)
    (model / "config.json").write_text('{"a": 1}')
    (model / "tokenizer" / "vocab.txt").write_text("hello")
    (tmp_path / "secret").write_text("server-only")
    return tmp_path / "output"


def test_copies_the_files_and_folders(output, tmp_path):
    copied = copy_job_folder(output, "runs/model", tmp_path / "copy", job_id=1)
    assert (copied / "config.json").read_text() == '{"a": 1}'
    assert (copied / "tokenizer" / "vocab.txt").read_text() == "hello"


@pytest.mark.parametrize("folder", ["../", "runs/../..", "/etc"])
def test_refuses_a_folder_outside_the_output(output, tmp_path, folder):
    with pytest.raises(Forbidden, match="its own output only"):
        copy_job_folder(output, folder, tmp_path / "copy", job_id=1)


def test_refuses_a_link_to_a_file_outside(output, tmp_path):
    (output / "runs" / "model" / "weights.bin").symlink_to(tmp_path / "secret")
    with pytest.raises(Forbidden, match="weights.bin"):
        copy_job_folder(output, "runs/model", tmp_path / "copy", job_id=1)


def test_refuses_a_linked_folder_on_the_way(output, tmp_path):
    """A job that swaps a folder on the path for a link after any check is still refused:
    every step is opened without following links."""
    (output / "elsewhere").symlink_to(output / "runs")
    with pytest.raises(Forbidden, match="is a link or not a folder"):
        copy_job_folder(output, "elsewhere/model", tmp_path / "copy", job_id=1)


def test_refuses_a_fifo_without_blocking(output, tmp_path):
    os.mkfifo(output / "runs" / "model" / "pipe")
    with pytest.raises(Forbidden, match="not a plain file or folder"):
        copy_job_folder(output, "runs/model", tmp_path / "copy", job_id=1)


def test_names_a_missing_folder(output, tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        copy_job_folder(output, "runs/nothing", tmp_path / "copy", job_id=1)
