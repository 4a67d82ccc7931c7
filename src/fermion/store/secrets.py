"""Secrets at rest: each value sealed with AES-GCM under the server's master key, bound
to its owner and name (the associated data), so a sealed value copied to another row
does not open. The key is FERMION_MASTER_KEY (32 bytes, URL-safe base64), or the 0600
file `$FERMION_HOME/master.key` made on first use."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fermion.errors import Conflict
from fermion.settings import Settings

KEY_ENV = "FERMION_MASTER_KEY"
NONCE_BYTES = 12


def master_key(settings: Settings) -> bytes:
    given = os.environ.get(KEY_ENV)
    if given:
        try:
            key = base64.urlsafe_b64decode(given.encode() + b"=" * (-len(given) % 4))
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError(f"{KEY_ENV} must be 32 bytes in URL-safe base64 (44 characters)")
        return key
    path = Path(settings.home) / "master.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".master.key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)  # the first writer's key wins; never overwritten
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def of(cls, settings: Settings) -> SecretBox:
        return cls(master_key(settings))

    @staticmethod
    def _bound(owner_id: int, name: str) -> bytes:
        return f"fermion-secret:{owner_id}:{name}".encode()

    def seal(self, owner_id: int, name: str, value: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, value.encode(), self._bound(owner_id, name))

    def open(self, owner_id: int, name: str, sealed: bytes) -> str:
        try:
            plain = self._aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._bound(owner_id, name)
            )
        except InvalidTag:
            raise Conflict(
                f"secret {name} cannot be decrypted with this server's master key (was"
                f" {KEY_ENV} or master.key changed?); set it again: fermion secret set {name}"
            ) from None
        return plain.decode()
