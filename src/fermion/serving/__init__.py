"""Inference serving: a registered model behind HTTP, with dynamic batching.

bundle.py    a model folder loaded for inference (network + its preprocessing)
inputs.py    request inputs -> tensors, per dataset type; outputs -> predictions
batcher.py   gathers concurrent requests into one forward pass
v2.py        the Open Inference Protocol (KServe V2) payloads
metrics.py   Prometheus metrics of a replica
app.py       the replica's FastAPI application
replica.py   `python -m fermion.serving.replica`: one replica process
"""
