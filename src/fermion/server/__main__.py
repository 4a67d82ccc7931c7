"""`python -m fermion.server [--host H] [--port P]`: run the server in the foreground."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from fermion.server.app import create_app
from fermion.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fermion.server")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on")
    parser.add_argument("--capacity", help="what jobs may use, e.g. cpu=8,gpu=2,memory=32Gi")
    args = parser.parse_args(argv)
    settings = load_settings(host=args.host, port=args.port, capacity=args.capacity)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the gateway's every probe
    # No access log: a line per inference request would bury what the log is for.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
    )


if __name__ == "__main__":
    main()
