"""The two stores: metadata (rows, SQLAlchemy) and artifacts (files, fsspec)."""

from fermion.store.artifacts import ArtifactStore
from fermion.store.metadata import MetadataStore

__all__ = ["ArtifactStore", "MetadataStore"]
