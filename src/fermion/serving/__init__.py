"""Inference serving: a registered model behind HTTP, with dynamic batching.

The model folder (network, preprocessing, request inputs -> tensors) is fermion.modelfile.

state.py      the replica's options, loaded model and load failure; batching per request
batcher.py    gathers concurrent requests into one forward pass
bodies.py     request bodies under a size limit
routes.py     health, readiness, metrics and POST /predict
v2.py         the Open Inference Protocol (KServe V2) payloads
v2_routes.py  the V2 endpoints
metrics.py    Prometheus metrics of a replica
app.py        the replica's FastAPI application, put together
replica.py    `python -m fermion.serving.replica`: one replica process
"""
