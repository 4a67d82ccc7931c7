"""`python -m fermion.federated.site federate-site.json`: one site of a federation, as a
job. It becomes Flower's SuperNode for the site: it connects to the coordinator's
SuperLink and runs the ClientApp (client_app.py) on the site's own dataset for every
message. The server starts the job isolated (its token reads this dataset only; it sees
none of the machine's Fermion files but its own) and stops it when the federation ends."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fermion.federated import flower
from fermion.payloads import FederationPlan


def main(argv: list[str]) -> int:
    spec_path = Path(argv[0]).resolve()
    plan = FederationPlan.read(spec_path)
    site, dataset = plan.site, plan.dataset
    job_dir = Path(os.environ.get("FERMION_JOB_DIR", Path.cwd()))
    env = flower.environment(job_dir / "flower")
    address = plan.site_address or plan.superlink
    node_config = f'plan="{spec_path}" dataset="{dataset}" site="{site}"'
    command = [
        flower.program("flower-supernode"),
        "--insecure",
        f"--superlink={address}",
        "--host=127.0.0.1",
        f"--port={flower.free_port()}",
        f"--node-config={node_config}",
    ]
    print(f"site {site}: training on {dataset} only; SuperLink at {address}", flush=True)
    os.execve(command[0], command, env)  # the SuperNode is the job from here on
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
