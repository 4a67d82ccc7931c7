"""Settings, read once per process.

Precedence: explicit arguments (command-line flags) > `FERMION_*` environment
variables > `$FERMION_HOME/config.toml` > defaults.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_PORT = 8321
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def default_home() -> Path:
    return Path(os.environ.get("FERMION_HOME") or "~/.fermion").expanduser()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FERMION_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Where Fermion keeps its state.")
    # Server side.
    host: str = Field("127.0.0.1", description="Address the server binds to.")
    port: int = Field(DEFAULT_PORT, description="Port the server listens on.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in home.")
    artifact_url: str | None = Field(None, description="fsspec URL; default a folder in home.")
    artifact_options: dict[str, Any] = Field(
        default_factory=dict, description="fsspec storage options, e.g. endpoint_url for S3."
    )
    max_upload_mb: int = Field(4096, description="Largest dataset source upload accepted.")
    max_json_mb: int = Field(16, gt=0, description="Largest JSON body an API route accepts.")
    capacity: str | None = Field(
        None, description="What jobs may use, e.g. cpu=8,gpu=2,memory=32Gi; default: the machine."
    )
    executor: Literal["local", "ray"] = Field(
        "local", description="Where jobs run: this machine (local), or a Ray cluster (ray)."
    )
    ray_address: str | None = Field(
        None, description="The Ray cluster's address (HOST:PORT of its head), for executor ray."
    )
    source_roots: str | None = Field(
        None,
        description=(
            "Folders the server reads local dataset sources from, separated by ':';"
            " default: the home folder of the user running it, and the temporary folder."
        ),
    )
    docs: Literal["signed-in", "public", "off"] = Field(
        "signed-in", description="Who gets /docs and /openapi.json: signed-in, public, off."
    )
    encrypt_at_rest: bool = Field(
        False,
        description=(
            "Seal every workspace's dataset and model files at rest (AES-GCM), not only"
            " those of workspaces created with --encrypted."
        ),
    )
    job_isolation: Literal["auto", "sandbox", "none"] = Field(
        "auto",
        description=(
            "How jobs are kept from the server and each other: auto (a sandbox where the"
            " kernel allows it), sandbox (always; refuse otherwise), none (scoped jobs only)."
        ),
    )
    job_grace_s: float = Field(5.0, description="Seconds between SIGTERM and SIGKILL on cancel.")
    tls_cert: Path | None = Field(
        None, description="The server's certificate (PEM): with tls_key, it serves HTTPS."
    )
    tls_key: Path | None = Field(None, description="The private key of tls_cert (PEM).")
    # Client side.
    ca_bundle: Path | None = Field(
        None,
        description="Certificates (PEM) to trust for the server; default: the system's, and"
        " tls_cert when this home's server serves HTTPS with it.",
    )
    url: str | None = Field(None, description="Server URL the CLI and SDK talk to.")
    token: str | None = Field(None, description="API token; default the credentials file.")
    token_file: Path | None = Field(
        None, description="A file holding the API token (a job's: set by the server)."
    )
    cache_dir: Path | None = Field(
        None, description="Where downloaded datasets and models are cached; default home/cache."
    )
    workspace: str | None = Field(
        None, description="Workspace the CLI and SDK act in; default: the user's default one."
    )
    autostart: bool = Field(True, description="Start the local server when none answers.")
    max_code_mb: int = Field(100, description="Largest working directory `job run` packs.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        home = getattr(init_settings, "init_kwargs", {}).get("home") or default_home()
        toml = TomlConfigSettingsSource(settings_cls, toml_file=Path(home) / "config.toml")
        return (init_settings, env_settings, toml)

    # Derived values: one place that says what "default" means.
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'fermion.db'}"

    @property
    def resolved_artifact_url(self) -> str:
        return self.artifact_url or str(self.home / "artifacts")

    @property
    def server_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def trusted_certificates(self) -> Path | None:
        """What HTTPS clients trust beyond the system: the given bundle, or this home's
        own certificate (a self-signed one is its own authority)."""
        return self.ca_bundle or self.tls_cert

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's `verify`: a context trusting `trusted_certificates`, or the system."""
        trusted = self.trusted_certificates
        return ssl.create_default_context(cafile=str(trusted)) if trusted else True

    @property
    def server_is_local_default(self) -> bool:
        """True when the URL points at a server this machine may start itself."""
        parsed = urlparse(self.server_url)
        default_port = 443 if parsed.scheme == "https" else 80
        return parsed.hostname in LOOPBACK_HOSTS and (parsed.port or default_port) == self.port

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.home / "cache"

    @property
    def credentials_path(self) -> Path:
        return self.home / "credentials"

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def server_log_path(self) -> Path:
        return self.home / "server.log"

    @property
    def server_pid_path(self) -> Path:
        return self.home / "server.pid"


def load_settings(**overrides: Any) -> Settings:
    """Settings with command-line overrides; `None` means "not given"."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
