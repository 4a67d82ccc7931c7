"""`python -m fermion.federated.site federate-site.json`: one site of a federation, as a
job. It runs Flower's SuperNode for the site, which connects to the coordinator's
SuperLink and runs the ClientApp (client_app.py) on the site's own dataset for every
message. The server starts the job isolated (its token reads this dataset only; it sees
none of the machine's Fermion files but its own).

The site's part ends when the SuperLink does: once it has answered, and then stops
answering for a while, the SuperNode is stopped and the job succeeds (a SuperNode alone
would wait for a new SuperLink for ever)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fermion.federated import flower
from fermion.payloads import FederationPlan

CHECK_EVERY_S = 2.0
GONE_AFTER_S = 10.0  # the SuperLink silent this long, after it had answered: it has ended


def answers(address: str) -> bool:
    """Any HTTP answer from the SuperLink's Fleet API (through a proxy, too)."""
    try:
        httpx.get(f"http://{address}/", timeout=2.0)
        return True
    except httpx.HTTPError:
        return False


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0]).resolve()
    plan = FederationPlan.read(spec_path)
    job_dir = Path(os.environ.get("FERMION_JOB_DIR", Path.cwd()))
    env = flower.environment(job_dir / "flower")
    address = plan.site_address or plan.superlink
    node_config = f'plan="{spec_path}" dataset="{plan.dataset}" site="{plan.site}"'
    command = [
        flower.program("flower-supernode"),
        "--insecure",
        f"--superlink={address}",
        "--host=127.0.0.1",
        f"--port={flower.free_port()}",
        f"--node-config={node_config}",
    ]
    print(f"site {plan.site}: training on {plan.dataset} only; SuperLink at {address}", flush=True)
    supernode = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
    signal.signal(signal.SIGTERM, lambda *_: supernode.terminate())
    seen, silent_since = False, None
    while supernode.poll() is None:
        time.sleep(CHECK_EVERY_S)
        if answers(address):
            seen, silent_since = True, None
        elif seen:
            silent_since = silent_since or time.monotonic()
            if time.monotonic() - silent_since > GONE_AFTER_S:
                print(f"site {plan.site}: the SuperLink has closed; this site is done", flush=True)
                supernode.terminate()
                supernode.wait(30)
                return 0
    code = supernode.returncode
    return code if code >= 0 else 128 - code  # stopped by a signal: 128 + its number


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
