"""Inference serving: a registered model behind HTTP, with dynamic batching.

The model folder (network, preprocessing, request inputs -> tensors) is fermion.modelfile.

batcher.py   gathers concurrent requests into one forward pass
v2.py        the Open Inference Protocol (KServe V2) payloads
metrics.py   Prometheus metrics of a replica
app.py       the replica's FastAPI application
replica.py   `python -m fermion.serving.replica`: one replica process
"""
