"""The seal on secrets: AES-GCM under the master key, bound to the owner and the name."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from fermion.errors import Conflict
from fermion.settings import Settings
from fermion.store.secrets import SecretBox, master_key


def test_a_sealed_value_opens_only_with_its_key_owner_and_name(tmp_path):
    box = SecretBox.of(Settings(home=tmp_path))
    sealed = box.seal(1, "API_KEY", "s3cr3t")
    assert b"s3cr3t" not in sealed and len(sealed) == 12 + len("s3cr3t") + 16
    assert box.open(1, "API_KEY", sealed) == "s3cr3t"
    assert box.seal(1, "API_KEY", "s3cr3t") != sealed  # a fresh nonce every time
    for owner, name in ((2, "API_KEY"), (1, "OTHER")):  # copied to another row: refused
        with pytest.raises(Conflict, match="cannot be decrypted"):
            box.open(owner, name, sealed)
    with pytest.raises(Conflict, match="fermion secret set API_KEY"):
        SecretBox(os.urandom(32)).open(1, "API_KEY", sealed)


def test_the_key_file_is_made_once_readable_by_its_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv("FERMION_MASTER_KEY", raising=False)
    key = master_key(Settings(home=tmp_path))
    assert len(key) == 32 and master_key(Settings(home=tmp_path)) == key
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    given = os.urandom(32)
    monkeypatch.setenv("FERMION_MASTER_KEY", base64.urlsafe_b64encode(given).decode())
    assert master_key(Settings(home=tmp_path)) == given
    monkeypatch.setenv("FERMION_MASTER_KEY", "short")
    with pytest.raises(ValueError, match="32 bytes"):
        master_key(Settings(home=tmp_path))
