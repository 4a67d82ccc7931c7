"""`fermion config`: the user's default job resources, stored by the server."""

from __future__ import annotations

import json


def test_config_stores_job_defaults_and_prints_settings(cli, server):
    cli("config", "--cpu=4", "--gpu=2", "--memory=8Gi")
    shown = json.loads(cli("config", "--json").stdout)
    assert shown["job_defaults"] == {"cpu": 4.0, "gpu": 2, "memory": "8Gi"}
    assert shown["server_url"] == server.url
    assert shown["home"] == str(server.home)

    cli("config", "--memory", "512Mi")  # a partial update keeps the rest
    shown = json.loads(cli("config", "--json").stdout)
    assert shown["job_defaults"] == {"cpu": 4.0, "gpu": 2, "memory": "512Mi"}
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
