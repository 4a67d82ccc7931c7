"""Data keys: the keys that seal a workspace's files at rest (sealing.py).

Envelope encryption, as cloud KMSs do it: each encrypted workspace has data keys (32
random bytes) stored wrapped by the server's master key (secrets.master_key), never in
the clear. Exactly one key of a workspace is `active` and seals new files; a rotation
makes a new active key, seals every file again under it, and only then deletes the old
one (services/encryption.py). A file names its key by id, so a read never waits for a
rotation: whichever key a file was sealed with opens it until that key is deleted.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, select
from sqlalchemy.orm import Mapped, mapped_column

from fermion.store.base import Base, DateTime, utcnow
from fermion.store.metadata import MetadataStore
from fermion.store.sealing import Seal, SealedFileError

ACTIVE, RETIRING = "active", "retiring"
NONCE_BYTES = 12


class DataKeyRow(Base):
    __tablename__ = "data_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    # nonce | AES-GCM(master key, data key, aad = "fermion-data-key:<workspace id>")
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), default=ACTIVE)  # active | retiring
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _aad(workspace_id: int) -> bytes:
    return f"fermion-data-key:{workspace_id}".encode()


def wrap(master: bytes, workspace_id: int, data_key: bytes, nonce: bytes) -> bytes:
    return nonce + AESGCM(master).encrypt(nonce, data_key, _aad(workspace_id))


class Keyring:
    """Unwraps data keys by id, on demand, and keeps them in memory."""

    def __init__(self, metadata: MetadataStore, master: bytes) -> None:
        self._metadata = metadata
        self.master = master  # wraps the data keys
        self._keys: dict[int, bytes] = {}
        self._lock = threading.Lock()
        self._writers: Counter[int] = Counter()  # key id -> writers sealing with it now

    def unwrap(self, row: DataKeyRow) -> bytes:
        try:
            return AESGCM(self.master).decrypt(
                row.wrapped[:NONCE_BYTES], row.wrapped[NONCE_BYTES:], _aad(row.workspace_id)
            )
        except InvalidTag:
            raise SealedFileError(
                f"data key {row.id} does not open with this server's master key (was"
                " FERMION_MASTER_KEY or master.key changed?)"
            ) from None

    def data_key(self, key_id: int) -> bytes:
        """The key that sealed a file (its header names `key_id`)."""
        with self._lock:
            if key_id in self._keys:
                return self._keys[key_id]
        with self._metadata.session() as session:
            row = session.get(DataKeyRow, key_id)
            if row is None:
                raise SealedFileError(f"the data key {key_id} that sealed this file is deleted")
            key = self.unwrap(row)
        with self._lock:
            self._keys[key_id] = key
        return key

    def active(self, workspace_id: int) -> Seal | None:
        """The key that seals a workspace's new files (None before its first)."""
        with self._metadata.session() as session:
            row = session.scalar(
                select(DataKeyRow).where(
                    DataKeyRow.workspace_id == workspace_id, DataKeyRow.state == ACTIVE
                )
            )
            return None if row is None else Seal(row.id, self.data_key(row.id))

    def forget(self, key_id: int) -> None:
        with self._lock:
            self._keys.pop(key_id, None)

    def hold(self, key_id: int) -> None:
        """A writer seals with `key_id` until it releases it: the key is not deleted
        meanwhile, even once retired (its files are sealed again after the writer's row
        exists)."""
        with self._lock:
            self._writers[key_id] += 1

    def release(self, key_id: int) -> None:
        with self._lock:
            self._writers[key_id] -= 1
            if self._writers[key_id] <= 0:
                del self._writers[key_id]

    def in_use(self, key_id: int) -> bool:
        with self._lock:
            return key_id in self._writers
