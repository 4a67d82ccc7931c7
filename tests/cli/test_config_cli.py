"""`fermion config`: the user's default job resources, stored by the server."""

from __future__ import annotations

import json


def test_config_stores_job_defaults_and_prints_settings(cli, server):
    cli("config", "--cpu=2", "--gpu=0", "--memory=8Gi")
    shown = json.loads(cli("config", "--json").stdout)
    assert shown["job_defaults"] == {"cpu": 2.0, "gpu": 0, "memory": "8Gi"}
    assert shown["server_url"] == server.url
    assert shown["home"] == str(server.home)

    cli("config", "--memory", "512Mi")  # a partial update keeps the rest
    shown = json.loads(cli("config", "--json").stdout)
    assert shown["job_defaults"] == {"cpu": 2.0, "gpu": 0, "memory": "512Mi"}
    assert "job default memory" in cli("config").stdout

    with server.client() as client:
        assert client.me().job_defaults.memory == "512Mi"

    cli("config", "--reset")  # the other tests share this user
    assert json.loads(cli("config", "--json").stdout)["job_defaults"] == {
        "cpu": None,
        "gpu": None,
        "memory": None,
    }


def test_config_refuses_bad_values(cli):
    for args, message in (
        (["--memory", "lots"], "memory 'lots' is not a size"),
        (["--cpu", "0"], "cpu"),
        (["--gpu", "-1"], "gpu"),
    ):
        result = cli("config", *args, ok=False)
        assert result.exit_code != 0
        assert message in result.output


def test_config_refuses_resources_the_platform_cannot_give(cli, server):
    with server.client() as client:
        total = client.capacity().total
    gpus = int(total["gpu"]) + 1  # one more GPU than this machine has (none, here)
    result = cli("config", f"--gpu={gpus}", ok=False)
    assert result.exit_code != 0
    assert "a default of gpu beyond what this platform has" in result.output
    assert f"gpu={gpus - 1}" in result.output and "queued forever" in result.output
    result = cli("config", f"--cpu={float(total['cpu']) + 1}", "--memory=100Ti", ok=False)
    assert "a default of cpu, memory beyond" in result.output
    assert json.loads(cli("config", "--json").stdout)["job_defaults"]["gpu"] in (None, 0)


def test_an_unexpected_error_is_one_line_and_a_log_file(cli, server, monkeypatch):
    from fermion.client import Client

    def broken(self):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(Client, "me", broken)
    result = cli("config", ok=False)
    assert result.exit_code == 1
    assert "unexpected RuntimeError: a bug of ours" in result.output
    assert "Traceback" not in result.output
    log = server.home / "logs" / "cli-errors.log"
    assert f"the full traceback is in {log}" in " ".join(result.output.split())
    assert "Traceback" in log.read_text() and "a bug of ours" in log.read_text()
