"""What every request handler shares: settings and the two stores."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fermion.settings import Settings
from fermion.store import ArtifactStore, MetadataStore
from fermion.store.keyring import Keyring
from fermion.store.secrets import master_key


@dataclass
class ServerContext:
    settings: Settings
    metadata: MetadataStore
    artifacts: ArtifactStore
    keyring: Keyring

    @classmethod
    def open(cls, settings: Settings) -> ServerContext:
        settings.home.mkdir(parents=True, exist_ok=True)
        metadata = MetadataStore(settings.resolved_database_url)
        artifacts = ArtifactStore(settings.resolved_artifact_url, settings.artifact_options)
        keyring = Keyring(metadata, master_key(settings))
        artifacts.data_key = keyring.data_key  # sealed files open wherever they are read
        return cls(settings=settings, metadata=metadata, artifacts=artifacts, keyring=keyring)

    @property
    def scratch(self) -> Path:
        """Local working space. On a local artifact store it shares its filesystem, so
        finished files move into the store by rename instead of by copy."""
        local = self.artifacts.local_path(".scratch")
        path = local if local is not None else self.settings.home / "scratch"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        self.metadata.dispose()
