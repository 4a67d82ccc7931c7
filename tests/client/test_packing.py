"""What ships with a job: the working directory as git sees it, within a size limit."""

from __future__ import annotations

import tarfile

import pytest

from fermion import InvalidInput
from fermion.client.packing import collect, pack_directory


def test_gitignore_and_fermionignore_are_respected(tmp_path):
    (tmp_path / ".gitignore").write_text("*.ckpt\ndata/\n!keep.ckpt\n")
    (tmp_path / ".fermionignore").write_text("notes.md\n")
    for name in (
        "train.py",
        "model.ckpt",
        "keep.ckpt",
        "notes.md",
        "data/big.bin",
        "src/util.py",
        ".git/HEAD",
        "src/cache.ckpt",
    ):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    shipped = sorted(name for name, _ in collect(tmp_path))
    assert shipped == [".fermionignore", ".gitignore", "keep.ckpt", "src/util.py", "train.py"]
    archive = pack_directory(tmp_path, limit_bytes=10_000)
    with tarfile.open(archive) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
    archive.unlink()
    assert names == [f"code/{n}" for n in shipped]


def test_too_large_a_directory_is_refused_naming_the_largest_files(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')")
    (tmp_path / "weights.bin").write_bytes(b"0" * 2_000_000)
    with pytest.raises(InvalidInput) as refused:
        pack_directory(tmp_path, limit_bytes=1_000_000)
    message = refused.value.message
    assert "weights.bin (1.9 MiB)" in message
    assert ".gitignore" in message and "FERMION_MAX_CODE_MB" in message
