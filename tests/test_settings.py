"""Settings precedence: explicit argument > FERMION_* env > config.toml > default."""

from __future__ import annotations

from pathlib import Path

from fermion.settings import DEFAULT_PORT, Settings, load_settings


def test_defaults_live_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FERMION_HOME", str(tmp_path))
    for var in ("FERMION_PORT", "FERMION_URL", "FERMION_DATABASE_URL", "FERMION_ARTIFACT_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert settings.home == tmp_path
    assert settings.port == DEFAULT_PORT
    assert settings.host == "127.0.0.1"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'fermion.db'}"
    assert settings.resolved_artifact_url == str(tmp_path / "artifacts")
    assert settings.server_url == f"http://127.0.0.1:{DEFAULT_PORT}"
    assert settings.server_is_local_default


def test_flag_beats_env_beats_file_beats_default(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FERMION_HOME", str(tmp_path))
    monkeypatch.delenv("FERMION_PORT", raising=False)
    monkeypatch.delenv("FERMION_HOST", raising=False)
    (tmp_path / "config.toml").write_text('port = 9001\nhost = "0.0.0.0"\nmax_upload_mb = 7\n')
    assert Settings().port == 9001
    assert Settings().max_upload_mb == 7
    monkeypatch.setenv("FERMION_PORT", "9002")
    assert Settings().port == 9002
    assert load_settings(port=9003).port == 9003
    assert load_settings(port=None).port == 9002  # a flag not given does not override
    # Binding every interface still means "talk to me on loopback" for the local client.
    assert Settings().server_url == "http://127.0.0.1:9002"


def test_a_remote_url_is_not_started_locally(tmp_path, monkeypatch):
    monkeypatch.setenv("FERMION_HOME", str(tmp_path))
    monkeypatch.setenv("FERMION_URL", "http://fermion.internal:8321")
    assert not Settings().server_is_local_default
