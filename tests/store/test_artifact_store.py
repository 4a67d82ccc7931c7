"""ArtifactStore on a local folder and on a real S3 server: atomic writes, listing,
deleting, and URIs any process can open."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest

from fermion.store import ArtifactStore
from tests.conftest import free_port
from tests.s3 import BUCKET, s3_server


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("weed"), free_port()) as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    server = request.getfixturevalue("s3")
    return ArtifactStore(f"s3://{BUCKET}/{tmp_path.name}", server.options)


def test_write_read_list_delete(store: ArtifactStore, tmp_path: Path):
    store.write_bytes("a/one.bin", b"1" * 10)
    local = tmp_path / "src"
    (local / "sub").mkdir(parents=True)
    (local / "two.txt").write_text("two")
    (local / "sub" / "three.txt").write_text("three")
    assert store.put_dir(local, "a/dir") == 8
    assert store.list_files("a") == ["dir/sub/three.txt", "dir/two.txt", "one.bin"]
    assert store.read_bytes("a/dir/sub/three.txt") == b"three"
    assert store.size("a") == 18
    assert store.key_of(store.uri("a/dir")) == "a/dir"
    # The URI opens with plain fsspec in any process that has the options.
    with fsspec.open(store.uri("a/one.bin"), "rb", **store.options) as f:
        assert f.read() == b"1" * 10
    store.delete("a/dir")
    assert store.list_files("a") == ["one.bin"]
    assert store.list_files("missing") == []


def test_a_reader_never_sees_a_half_written_file(store: ArtifactStore):
    with store.open_write("model.bin") as f:
        f.write(b"x" * 1000)
        assert not store.exists("model.bin")  # not visible until complete
    assert store.read_bytes("model.bin") == b"x" * 1000


def test_a_failed_write_leaves_the_old_file_and_no_debris(store: ArtifactStore):
    store.write_bytes("model.bin", b"old")
    with pytest.raises(RuntimeError), store.open_write("model.bin") as f:
        f.write(b"new but unfinished")
        raise RuntimeError("crash mid-write")
    assert store.read_bytes("model.bin") == b"old"
    assert store.list_files("") == ["model.bin"]


def test_keys_cannot_leave_the_store(tmp_path):
    store = ArtifactStore(str(tmp_path / "artifacts"))
    with pytest.raises(ValueError, match=r"\.\."):
        store.path("../outside")
