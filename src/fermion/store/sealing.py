"""Files sealed at rest: streaming AES-GCM, the construction of Tink's AES-GCM-HKDF
streaming AEAD (`cryptography` has the block cipher mode but no streaming format).

A sealed file is a header and then the plaintext in 64 KiB segments, each encrypted on
its own, so a file of any size is sealed and opened in constant memory and read from any
offset:

    header   = MAGIC (8) | key id (4, big-endian) | salt (16) | nonce prefix (7)
    segment  = AES-GCM(file key, nonce = prefix | index (4) | last (1), aad = header)

The file key is HKDF-SHA256(data key, salt, info = header | 0 | the file's name in the
store): a fresh key per file, so nonces never repeat across files under one data key,
and a sealed file copied to another name (another workspace's version, say) does not
open there. The `last` byte marks the final
segment, so a file cut at a segment boundary does not open; the segment index in the
nonce refuses segments swapped or moved. The key id names the data key (keyring.py),
so files sealed before a rotation open until they are sealed again under the new key.
"""

from __future__ import annotations

import io
import os
import posixpath
import struct
from collections.abc import Callable
from typing import IO, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fermion.errors import Conflict

MAGIC = b"FMSEAL01"
HEADER = struct.Struct(">8sI16s7s")
SEGMENT = 64 * 1024  # plaintext bytes per segment
TAG = 16
SEALED_SEGMENT = SEGMENT + TAG


class Seal(NamedTuple):
    """What a writer seals a file with: the data key's id (in the header) and bytes."""

    key_id: int
    key: bytes


class SealedFileError(Conflict):
    """A sealed file that does not open: altered, cut short, or its key is gone."""


def _file_cipher(data_key: bytes, header: bytes, name: str) -> AESGCM:
    salt = header[12:28]
    info = header + b"\0" + posixpath.normpath(name).strip("/").encode()
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info)
    return AESGCM(hkdf.derive(data_key))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def key_id_of(header: bytes) -> int | None:
    """The data key a file was sealed with, or None for a plain file."""
    if len(header) < HEADER.size or not header.startswith(MAGIC):
        return None
    return HEADER.unpack(header[: HEADER.size])[1]


class SealingWriter(io.RawIOBase):
    """Writes the plaintext given to it as the sealed file `name` into `raw` (left
    open)."""

    def __init__(self, raw: IO[bytes], key_id: int, data_key: bytes, name: str) -> None:
        self._raw = raw
        self._header = HEADER.pack(MAGIC, key_id, os.urandom(16), os.urandom(7))
        self._prefix = self._header[-7:]
        self._aead = _file_cipher(data_key, self._header, name)
        self._pending = bytearray()
        self._index = 0
        raw.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._pending += data
        # Keep one segment back: only close() knows which segment is the last.
        while len(self._pending) > SEGMENT:
            self._seal(bytes(self._pending[:SEGMENT]), last=False)
            del self._pending[:SEGMENT]
        return len(data)

    def _seal(self, plain: bytes, last: bool) -> None:
        nonce = _nonce(self._prefix, self._index, last)
        self._raw.write(self._aead.encrypt(nonce, plain, self._header))
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._pending), last=True)
            self._pending.clear()
        super().close()


class OpeningReader(io.RawIOBase):
    """The plaintext of the sealed file `name`, read (and sought) through `raw`."""

    def __init__(self, raw: IO[bytes], data_key: Callable[[int], bytes], name: str) -> None:
        self._raw = raw
        raw.seek(0)
        header = raw.read(HEADER.size)
        key_id = key_id_of(header)
        if key_id is None:
            raise SealedFileError("not a sealed file")
        self._header = header
        self._prefix = header[-7:]
        self._aead = _file_cipher(data_key(key_id), header, name)
        sealed_size = raw.seek(0, io.SEEK_END) - HEADER.size
        self._segments = max(1, -(-sealed_size // SEALED_SEGMENT))
        self._size = sealed_size - self._segments * TAG
        if self._size < 0:
            raise SealedFileError("sealed file is cut short")
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _segment(self, index: int) -> bytes:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        self._raw.seek(HEADER.size + index * SEALED_SEGMENT)
        sealed = self._raw.read(SEALED_SEGMENT)
        last = index == self._segments - 1
        try:
            plain = self._aead.decrypt(_nonce(self._prefix, index, last), sealed, self._header)
        except InvalidTag:
            raise SealedFileError(f"segment {index} was altered or the file cut short") from None
        self._cached = (index, plain)
        return plain

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._size:
            # Opening the last segment proves that the file ends here, not cut short.
            self._segment(self._segments - 1)
            return 0
        index, offset = divmod(self._pos, SEGMENT)
        chunk = self._segment(index)[offset : offset + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
