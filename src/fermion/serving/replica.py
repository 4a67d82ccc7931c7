"""`python -m fermion.serving.replica --model NAME:vN | --model-dir DIR [options]`

One replica process: an inference server on a free loopback port (or --port). Inside
a deployment it runs as a job of the scheduler: it fetches its model through the API,
and once listening tells the platform its address and its key (PUT /jobs/{id}/endpoint
with its job token); the platform sends it traffic once its /readyz answers, and it
answers no request without that key (replica_key.py). SIGTERM stops it
gracefully: requests in flight are answered first."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn

from fermion.payloads import MAX_BATCH_DELAY_MS, MAX_BATCH_SIZE
from fermion.serving.app import create_replica_app
from fermion.serving.bodies import MAX_REQUEST_MB
from fermion.serving.replica_key import new_key
from fermion.serving.runtimes import RUNTIMES, ModelRuntime, load_runtime
from fermion.serving.state import ReplicaOptions

log = logging.getLogger("fermion.replica")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fermion.serving.replica")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a registered model, NAME[:vN]")
    source.add_argument("--model-dir", type=Path, help="a model folder on this machine")
    parser.add_argument(
        "--name", action="append", default=[], help="a name the V2 paths accept (repeatable)"
    )
    parser.add_argument(
        "--host",
        # On a cluster node, the node's address, so the server's gateway reaches it there.
        default=os.environ.get("FERMION_NODE_IP", "127.0.0.1"),
        help="the address to listen on (default: the node's on a Ray cluster, else loopback)",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--max-batch-size", type=int, default=MAX_BATCH_SIZE)
    parser.add_argument("--max-batch-delay-ms", type=float, default=MAX_BATCH_DELAY_MS)
    parser.add_argument("--max-request-mb", type=float, default=MAX_REQUEST_MB)
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="torch",
        help="torch, or onnx: ONNX Runtime without torch (image, sound, tabular, text models)",
    )
    return parser.parse_args(argv)


def register_when_started(server: uvicorn.Server, url: str, key: str | None) -> None:
    """Tell the platform where this replica listens, once it accepts connections."""
    job_id = os.environ.get("FERMION_JOB_ID")
    while not server.started and not server.should_exit:
        time.sleep(0.05)
    print(f"listening on {url}", flush=True)
    if job_id is None or server.should_exit:
        return
    from fermion.client import Client
    from fermion.errors import FermionError

    while not server.should_exit:  # the platform may be restarting: keep trying
        try:
            with Client() as client:
                client.set_job_endpoint(int(job_id), url, key)
            return
        except FermionError as exc:
            log.warning("could not register %s with the platform (%s); retrying", url, exc)
            time.sleep(1.0)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)

    if args.model:
        ref = args.model

        def load() -> ModelRuntime:
            from fermion.client import Client

            with Client() as client:
                return load_runtime(client.fetch_model(ref), args.runtime)

        model_name = ref.partition(":")[0]
    else:
        ref = args.model_dir.name
        model_name = ref

        def load() -> ModelRuntime:
            return load_runtime(args.model_dir, args.runtime)

    options = ReplicaOptions(
        model=ref,
        names=[*args.name, model_name],
        max_batch_size=args.max_batch_size,
        max_batch_delay_ms=args.max_batch_delay_ms,
        max_request_mb=args.max_request_mb,
    )
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Connections inherit this from the listening socket. Without it, a response's
    # headers and body leave in two writes and Nagle's algorithm holds the second until
    # the client's delayed ACK: measured +45 ms on every request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    url = f"http://{host}:{port}"
    # Started by the platform: it answers the gateway only (replica_key.py).
    key = new_key() if os.environ.get("FERMION_JOB_ID") else None
    config = uvicorn.Config(
        create_replica_app(load, options, key),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    threading.Thread(target=register_when_started, args=(server, url, key), daemon=True).start()
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
