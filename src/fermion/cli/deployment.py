"""`fermion deploy`, `fermion deployment list | show | logs | scale | update | delete |
token | explain`, and `fermion predict`."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from fermion.cli import explain
from fermion.cli.output import JsonFlag, console, err_console, print_json, print_table, table, when
from fermion.client import Client
from fermion.errors import Conflict, InvalidInput
from fermion.payloads import (
    MAX_BATCH_DELAY_MS,
    MAX_BATCH_SIZE,
    REPLICA_CPU,
    REPLICA_MEMORY,
    SCALE_DOWN_DELAY_S,
    TARGET_CONCURRENCY,
    DeploymentPublic,
)

app = typer.Typer(help="Models served as HTTP endpoints.", no_args_is_help=True)

WaitFlag = Annotated[bool, typer.Option(help="Wait until every replica is ready.")]
MinReplicas = Annotated[
    int, typer.Option(help="Autoscaling: the fewest replicas (0: none while idle).")
]
MaxReplicas = Annotated[
    int | None, typer.Option(help="Autoscaling on: replicas follow the load, up to this many.")
]
TargetConcurrency = Annotated[
    float, typer.Option(help="Autoscaling: requests in flight per replica to aim at.")
]
ScaleDownDelay = Annotated[
    float, typer.Option(help="Autoscaling: seconds of lower load before replicas stop.")
]


def _wait(client: Client, name: str, timeout: float = 600) -> DeploymentPublic:
    """Show progress until the deployment is ready; fail if it cannot get there."""
    deadline = time.monotonic() + timeout
    shown = ""
    with console.status(f"waiting for {name}...") as status:
        while True:
            deployment = client.get_deployment(name)
            states = ", ".join(f"{r.job_id}: {r.state}" for r in deployment.replica_details)
            line = f"{name}: {deployment.status} ({deployment.ready_replicas}/{deployment.replicas} ready) {states}"
            if line != shown:
                status.update(line)
                shown = line
            if deployment.status in ("ready", "stopped", "idle"):
                return deployment
            if deployment.status == "failed":
                reasons = {r.reason for r in deployment.replica_details if r.reason}
                raise Conflict(
                    f"{name} failed: {'; '.join(sorted(reasons)) or 'see logs'}"
                    f" (fermion deployment logs {name})"
                )
            if time.monotonic() > deadline:
                raise InvalidInput(
                    f"{name} is not ready after {timeout:.0f} s; see"
                    f" `fermion deployment logs {name}`"
                )
            time.sleep(0.5)


def deploy(
    model: Annotated[str, typer.Argument(help="The model to serve: NAME or NAME:vN.")],
    name: Annotated[str, typer.Option(help="The deployment's name (its URL).")],
    replicas: Annotated[int, typer.Option(help="Replica processes.")] = 1,
    max_batch_size: Annotated[
        int, typer.Option(help="Inputs per forward pass, at most.")
    ] = MAX_BATCH_SIZE,
    max_batch_delay_ms: Annotated[
        float, typer.Option(help="How long the first input waits for others to join.")
    ] = MAX_BATCH_DELAY_MS,
    cpu: Annotated[float, typer.Option(help="CPU cores per replica.")] = REPLICA_CPU,
    memory: Annotated[str, typer.Option(help="Memory per replica, e.g. 2Gi.")] = REPLICA_MEMORY,
    public: Annotated[bool, typer.Option("--public", help="Callable without a token.")] = False,
    runtime: Annotated[
        str,
        typer.Option(
            help="torch, or onnx: ONNX Runtime, light replicas (image, audio, tabular, text)."
            " A Keras model is served with keras."
        ),
    ] = "torch",
    min_replicas: MinReplicas = 1,
    max_replicas: MaxReplicas = None,
    target_concurrency: TargetConcurrency = TARGET_CONCURRENCY,
    scale_down_delay: ScaleDownDelay = SCALE_DOWN_DELAY_S,
    wait: WaitFlag = True,
    json: JsonFlag = False,
) -> None:
    """Serve a registered model: N replicas behind one endpoint, with dynamic batching;
    with --max-replicas, as many as its load needs."""
    with Client() as client:
        deployment = client.deploy(
            model,
            name,
            replicas=replicas,
            max_batch_size=max_batch_size,
            max_batch_delay_ms=max_batch_delay_ms,
            cpu=cpu,
            memory=memory,
            public=public,
            runtime=runtime,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            target_concurrency=target_concurrency,
            scale_down_delay_s=scale_down_delay,
        )
        err_console.print(
            f"Deploying {deployment.model} as {name} ({deployment.replicas} replica(s))"
        )
        if wait:
            deployment = _wait(client, name)
    if json:
        print_json(deployment)
        return
    console.print(
        f"[bold]{name}[/bold] {deployment.status}: {deployment.url}/predict", soft_wrap=True
    )
    console.print(
        f"Try it: fermion predict {name} --image PATH | --audio PATH | --text TEXT"
        " | --user ID | --json '{...}'"
    )


@app.command("list")
def list_(json: JsonFlag = False) -> None:
    """List deployments with their model, replicas and state."""
    with Client() as client:
        found = client.list_deployments()
    if json:
        print_json(found)
        return
    if not found.data:
        err_console.print("No deployments; `fermion deploy MODEL --name NAME` makes one.")
        return
    out = table("name", "model", "status", "ready", "cpu", "memory", "batch", "public")
    for d in found.data:
        out.add_row(
            d.name,
            d.model,
            d.status,
            f"{d.ready_replicas}/{d.replicas}",
            f"{d.cpu:g}",
            d.memory,
            f"{d.max_batch_size}, {d.max_batch_delay_ms:g} ms",
            "yes" if d.public else "no",
        )
    print_table(out, whole=("name", "model", "status"))


@app.command()
def show(name: str, json: JsonFlag = False) -> None:
    """Show a deployment: model, status, endpoint and each replica."""
    with Client() as client:
        d = client.get_deployment(name)
    if json:
        print_json(d)
        return
    facts = table("", "")
    facts.show_header = False
    for key, value in (
        ("deployment", d.name),
        ("model", d.model),
        ("status", d.status),
        ("replicas", f"{d.ready_replicas} ready of {d.replicas}"),
        ("resources", f"cpu {d.cpu:g}, memory {d.memory} per replica"),
        ("runtime", d.runtime),
        ("batching", f"up to {d.max_batch_size} inputs, waiting up to {d.max_batch_delay_ms:g} ms"),
        ("autoscaling", _describe_autoscaling(d)),
        ("access", "public" if d.public else "token (user or `fermion deployment token`)"),
        ("created", when(d.created_at)),
        ("updated", when(d.updated_at)),
    ):
        facts.add_row(key, value)
    console.print(facts)
    # Whole lines, never wrapped: these are for copying.
    console.print(f"predict: {d.url}/predict", soft_wrap=True, highlight=False)
    console.print(
        f"open inference (V2): {d.url}/v2/models/{d.name}/infer", soft_wrap=True, highlight=False
    )
    if d.replica_details:
        out = table(
            "job", "model", "state", "endpoint", "restarts", "last failure", title="Replicas"
        )
        for r in d.replica_details:
            out.add_row(
                str(r.job_id), r.model, r.state, r.endpoint or "-", str(r.restarts), r.reason or ""
            )
        print_table(out, whole=("job", "state"))
    if d.scale_events:
        out = table("when", "replicas", "why", title="Autoscaling")
        for e in d.scale_events[-10:]:
            out.add_row(when(e.at), f"{e.before} -> {e.after}", e.reason)
        print_table(out, whole=("when", "replicas"))


def _describe_autoscaling(d: DeploymentPublic) -> str:
    if d.autoscaling is None:
        return "off (fermion deployment autoscale NAME --max-replicas N turns it on)"
    a = d.autoscaling
    now = f"; now {d.in_flight:g} in flight" if d.in_flight is not None else ""
    return (
        f"{a.min_replicas} to {a.max_replicas} replicas, {a.target_concurrency:g} requests in"
        f" flight each; down after {a.scale_down_delay_s:g} s of less{now}"
    )


@app.command()
def autoscale(
    name: str,
    min_replicas: MinReplicas = 1,
    max_replicas: MaxReplicas = None,
    target_concurrency: TargetConcurrency = TARGET_CONCURRENCY,
    scale_down_delay: ScaleDownDelay = SCALE_DOWN_DELAY_S,
    off: Annotated[bool, typer.Option("--off", help="Replicas set by hand again.")] = False,
) -> None:
    """Let the deployment set its replicas from its load, within bounds."""
    if max_replicas is None and not off:
        raise InvalidInput("give --max-replicas N (and --min-replicas), or --off")
    with Client() as client:
        d = client.autoscale_deployment(
            name,
            min_replicas=min_replicas,
            max_replicas=None if off else max_replicas,
            target_concurrency=target_concurrency,
            scale_down_delay_s=scale_down_delay,
        )
    console.print(f"{name}: autoscaling {_describe_autoscaling(d)}; {d.replicas} replica(s) now")


@app.command()
def logs(
    name: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream on.")] = False,
) -> None:
    """Print every replica's log, each line prefixed with its replica's job."""
    with Client() as client:
        if follow:
            for chunk in client.follow_deployment_logs(name):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        else:
            sys.stdout.write(client.deployment_logs(name))


@app.command()
def scale(
    name: str,
    replicas: Annotated[int, typer.Option(help="How many replicas to run (0 stops them).")],
    wait: WaitFlag = True,
) -> None:
    """Change the number of replicas."""
    with Client() as client:
        d = client.scale_deployment(name, replicas)
        if wait:
            d = _wait(client, name)
    console.print(f"{name}: {d.status}, {d.ready_replicas} of {d.replicas} replicas ready")


@app.command()
def update(
    name: str,
    model: Annotated[str, typer.Option(help="The model version to roll out: NAME:vN.")],
    wait: WaitFlag = True,
) -> None:
    """Roll the replicas to another model version, one at a time, without dropping requests."""
    with Client() as client:
        d = client.update_deployment(name, model)
        err_console.print(f"Rolling {name} to {d.model}")
        if wait:
            d = _wait(client, name)
    console.print(f"{name}: {d.status}, serving {d.model}")


@app.command()
def delete(
    name: str, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False
) -> None:
    """Stop every replica and remove the deployment."""
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete deployment {name} and stop its replicas?", abort=True)
    with Client() as client:
        client.delete_deployment(name)
    console.print(f"Deleted deployment {name}")


@app.command()
def token(name: str) -> None:
    """Make a token that can call this deployment's endpoints and nothing else."""
    with Client() as client:
        issued = client.deployment_token(name)
        url = client.get_deployment(name).url
    err_console.print(f"A token for {name} (shown once; it calls {url}/predict only):")
    print(issued.token)


@app.command("explain")
def explain_(
    name: Annotated[str, typer.Argument(help="The deployment.")],
    input: explain.InputFile = None,
    text: explain.TextOption = None,
    record: explain.RecordOption = None,
    target: explain.TargetOption = None,
    method: explain.MethodOption = None,
    out: explain.OutOption = None,
    json: JsonFlag = False,
) -> None:
    """Why the deployment's model answers one input as it does, from its replicas (the
    model is loaded already: the quick way to explain)."""
    with Client() as client:
        model_type = client.get_model_version(client.get_deployment(name).model).type
        given = explain.read_input(model_type.value, input, text, record)
        found = client.explain(name, target=target, method=method, **given)
    explain.show(found, out, name, json)
