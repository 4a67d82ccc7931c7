"""`python -m fermion.server [--host H] [--port P]`: run the server in the foreground."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from fermion.server.app import create_app
from fermion.settings import Settings, load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fermion.server")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on")
    parser.add_argument("--capacity", help="what jobs may use, e.g. cpu=8,gpu=2,memory=32Gi")
    parser.add_argument("--executor", choices=["local", "ray"], help="where jobs run")
    parser.add_argument("--ray-address", help="the Ray cluster's head, HOST:PORT")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", help="the certificate's private key (PEM)")
    args = parser.parse_args(argv)
    settings = load_settings(
        host=args.host,
        port=args.port,
        capacity=args.capacity,
        executor=args.executor,
        ray_address=args.ray_address,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    if bool(settings.tls_cert) != bool(settings.tls_key):
        parser.error("HTTPS needs both --tls-cert and --tls-key (FERMION_TLS_CERT/KEY)")
    keep_private(settings)
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
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    )


def keep_private(settings: Settings) -> None:
    """What the server keeps is its user's alone: the home (database, credentials, keys,
    logs, artifacts) 0700, and every file the server or its jobs make from now on 0600
    (umask 077; jobs inherit it)."""
    os.umask(0o077)
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    # Made before this process (the log, by the launcher), or by an older version.
    for path in (settings.server_log_path, home / "fermion.db"):
        if path.exists():
            os.chmod(path, 0o600)


if __name__ == "__main__":
    main()
