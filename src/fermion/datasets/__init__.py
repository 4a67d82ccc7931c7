"""Datasets: ingest (server side) and loading (anywhere: jobs, notebooks, scripts)."""
