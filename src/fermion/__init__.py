"""Fermion: a self-hostable AI platform."""

__version__ = "0.1.0"
