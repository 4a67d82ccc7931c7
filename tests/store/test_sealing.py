"""The sealed-file format and the artifact store's use of it: a sealed file opens to its
plaintext from any offset, holds none of it, and refuses to open when altered, cut
short, or asked with another key."""

from __future__ import annotations

import io
import os

import pytest

from fermion.store import ArtifactStore
from fermion.store.sealing import SEGMENT, OpeningReader, Seal, SealedFileError, SealingWriter

KEY = os.urandom(32)


def sealed(data: bytes, key: bytes = KEY, name: str = "datasets/a/train.arrow") -> bytes:
    raw = io.BytesIO()
    writer = SealingWriter(raw, 7, key, name)
    writer.write(data[: len(data) // 3])
    writer.write(data[len(data) // 3 :])
    writer.close()
    return raw.getvalue()


def opened(
    blob: bytes, key: bytes = KEY, name: str = "datasets/a/train.arrow"
) -> io.BufferedReader:
    return io.BufferedReader(OpeningReader(io.BytesIO(blob), lambda key_id: key, name))


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 7])
def test_a_sealed_file_opens_to_its_plaintext_from_any_offset(size):
    data = os.urandom(size)
    blob = sealed(data)
    assert opened(blob).read() == data
    reader = opened(blob)
    reader.seek(size // 2)
    assert reader.read(100) == data[size // 2 : size // 2 + 100]
    if size >= 64:
        assert data[:64] not in blob and data[-64:] not in blob


@pytest.mark.parametrize(
    "spoil",
    [
        lambda b: b[:-1],  # the last byte lost
        lambda b: b[: -(SEGMENT + 16 + 8)],  # cut inside an earlier segment
        lambda b: b[: 35 + SEGMENT + 16],  # cut at a segment boundary: looks whole
        lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:],  # one bit flipped
        lambda b: b[:35] + b[35 + SEGMENT + 16 :] + b[35 : 35 + SEGMENT + 16],  # reordered
    ],
)
def test_an_altered_or_cut_file_does_not_open(spoil):
    blob = sealed(os.urandom(2 * SEGMENT + 100))
    with pytest.raises(SealedFileError):
        opened(spoil(blob)).read()


def test_another_key_does_not_open_it():
    with pytest.raises(SealedFileError):
        opened(sealed(b"x" * 1000), key=os.urandom(32)).read()


def test_a_sealed_file_opens_under_its_own_name_only():
    """Copied to another name (another version, another workspace's), it does not open."""
    blob = sealed(b"x" * 1000)
    assert opened(blob, name="/datasets/a/./train.arrow").read() == b"x" * 1000
    with pytest.raises(SealedFileError):
        opened(blob, name="datasets/b/train.arrow").read()


def test_the_store_seals_on_request_and_opens_by_itself(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    store.data_key = {7: KEY}.__getitem__
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(b"the plain words" * 1000)
    store.put_dir(tmp_path / "src", "set", seal=Seal(7, KEY))
    store.write_bytes("plain.txt", b"left as it is")
    on_disk = (tmp_path / "store" / "set" / "a.txt").read_bytes()
    assert b"the plain words" not in on_disk
    assert (store.sealed_with("set/a.txt"), store.sealed_with("plain.txt")) == (7, None)
    with store.open_read("set/a.txt") as f:
        assert f.read() == b"the plain words" * 1000
    assert store.read_bytes("plain.txt") == b"left as it is"
    (tmp_path / "store" / "copied.txt").write_bytes(on_disk)  # a sealed file moved aside
    with pytest.raises(SealedFileError):
        store.read_bytes("copied.txt")
    store.data_key = None
    with pytest.raises(SealedFileError, match="holds no keys"):
        store.open_read("set/a.txt")
