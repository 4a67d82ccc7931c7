"""Every bad record is refused with its location and reason, and nothing is written;
`--skip-invalid` keeps the good ones. Checked through the CLI and over raw HTTP."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests import sources


def _digits_subset(digits_dir: Path, dest: Path) -> Path:
    for label in ("0", "1"):
        shutil.copytree(digits_dir / label, dest / label)
    return dest


def undecodable(root: Path) -> tuple[str, str]:
    (root / "1" / "bad.png").write_bytes(b"this is not a PNG")
    return "1/bad.png", "cannot decode"


def truncated(root: Path) -> tuple[str, str]:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 40).save(buffer, format="PNG")
    (root / "0" / "cut.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return "0/cut.png", "cannot decode image"


def outside_class_folder(root: Path) -> tuple[str, str]:
    (root / "stray.png").write_bytes(sources.png_bytes())
    return "stray.png", "missing label"


def escaping_link(root: Path) -> tuple[str, str]:
    outside = root.parent / "outside.png"
    outside.write_bytes(sources.png_bytes())
    (root / "0" / "link.png").symlink_to(outside)
    return "0/link.png", "escapes the source root"


def image_bomb(root: Path) -> tuple[str, str]:
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")  # 100 Mpx in a few KB
    (root / "1" / "bomb.png").write_bytes(buffer.getvalue())
    return "1/bomb.png", "decompression bomb"


@pytest.mark.parametrize(
    "spoil", [undecodable, truncated, outside_class_folder, escaping_link, image_bomb]
)
def test_bad_image_fails_the_create_and_writes_nothing(cli, server, tmp_path, digits_dir, spoil):
    root = _digits_subset(digits_dir, tmp_path / "src")
    good = len(list(root.glob("*/*.png")))
    location, reason = spoil(root)
    name = f"bad-{spoil.__name__.replace('_', '-')}"
    result = cli(
        "dataset",
        "create",
        "--name",
        name,
        "--type",
        "image-classification",
        "--source",
        root,
        ok=False,
    )
    assert result.exit_code == 1
    assert "1 invalid record(s)" in result.output
    assert location in result.output and reason in result.output
    assert "--skip-invalid" in result.output
    _assert_nothing_written(cli, server, name)

    kept = cli(
        "dataset",
        "create",
        "--name",
        name,
        "--type",
        "image-classification",
        "--source",
        root,
        "--skip-invalid",
    )
    assert kept.stdout.split()[-1] == f"{name}:v1"
    assert "Skipped 1 invalid record(s)" in kept.output and location in kept.output
    shown = json.loads(cli("dataset", "show", f"{name}:v1", "--json").stdout)
    assert shown["num_records"] == good
    assert shown["skipped_count"] == 1


def _assert_nothing_written(cli, server, name: str) -> None:
    assert cli("dataset", "show", name, ok=False).exit_code == 1
    stored = server.artifacts / "datasets" / name
    assert not stored.exists() or not any(stored.iterdir())
    scratch = server.artifacts / ".scratch"
    assert not scratch.exists() or not any(scratch.iterdir())


TABLE_CASES = {
    "empty-label": (
        "text-classification",
        "text,label\ngood film,pos\nbad film,\ndull film,neg\n",
        "reviews.csv:3",
        "missing label in column 'label'",
    ),
    "empty-text": (
        "text-classification",
        "text,label\ngood film,pos\n,neg\ndull film,neg\n",
        "reviews.csv:3",
        "empty or missing text",
    ),
    "unreadable-row": (
        "text-classification",
        "text,label\ngood film,pos\nbad,film,neg,extra\ndull film,neg\n",
        "reviews.csv:3",
        "unreadable row: 4 fields, the header has 2",
    ),
    "non-numeric": (
        "tabular-classification",
        "a,b,label\n1,2,x\n3,abc,y\n5,6,x\n7,8,y\n",
        "reviews.csv:3",
        "feature column 'b': 'abc' is not a number",
    ),
    "missing-feature": (
        "tabular-classification",
        "a,b,label\n1,2,x\n3,,y\n5,6,x\n7,8,y\n",
        "reviews.csv:3",
        "missing value in feature column 'b'",
    ),
    "bad-target": (
        "tabular-regression",
        "a,b,target\n1,2,0.5\n3,4,lots\n5,6,1.5\n",
        "reviews.csv:3",
        "target column 'target': 'lots' is not a number",
    ),
}


@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_bad_row_fails_the_create_and_writes_nothing(cli, server, tmp_path, case):
    kind, text, location, reason = TABLE_CASES[case]
    source = tmp_path / "reviews.csv"
    source.write_text(text)
    result = cli("dataset", "create", "--name", case, "--type", kind, "--source", source, ok=False)
    assert result.exit_code == 1
    assert location in result.output and reason in result.output
    response = httpx.post(
        f"{server.url}/api/v1/datasets",
        json={"name": case, "type": kind, "source": str(source)},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=60,
    )
    assert response.status_code == 400
    problem = response.json()["details"]["problems"][0]
    assert problem["location"] == location and reason in problem["reason"]
    _assert_nothing_written(cli, server, case)


def test_manifest_path_escaping_the_root(cli, server, tmp_path):
    root = tmp_path / "m"
    (root / "img").mkdir(parents=True)
    (root / "img" / "a.png").write_bytes(sources.png_bytes(value=10))
    (root / "img" / "b.png").write_bytes(sources.png_bytes(value=20))
    (tmp_path / "secret.png").write_bytes(sources.png_bytes(value=30))
    manifest = root / "labels.csv"
    manifest.write_text("path,label\nimg/a.png,x\nimg/b.png,y\n../secret.png,x\n/etc/passwd,y\n")
    result = cli(
        "dataset",
        "create",
        "--name",
        "escape",
        "--type",
        "image-classification",
        "--source",
        manifest,
        ok=False,
    )
    assert "2 invalid record(s)" in result.output
    assert "labels.csv:4: path '../secret.png' escapes the source root" in result.output
    assert "labels.csv:5: path '/etc/passwd' escapes the source root" in result.output
    _assert_nothing_written(cli, server, "escape")


def test_report_shows_twenty_and_counts_the_rest(cli, tmp_path, digits_dir):
    root = _digits_subset(digits_dir, tmp_path / "src")
    for i in range(25):
        (root / "0" / f"junk{i:02d}.png").write_bytes(b"junk")
    result = cli(
        "dataset",
        "create",
        "--name",
        "many-bad",
        "--type",
        "image-classification",
        "--source",
        root,
        ok=False,
    )
    assert "25 invalid record(s)" in result.output
    assert "... and 5 more" in result.output
    assert result.output.count("cannot decode") == 20


def test_http_client_gets_400_with_details(server, tmp_path, digits_dir):
    root = _digits_subset(digits_dir, tmp_path / "src")
    undecodable(root)
    response = httpx.post(
        f"{server.url}/api/v1/datasets",
        json={"name": "http-bad", "type": "image-classification", "source": str(root)},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=60,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "INVALID_RECORDS"
    assert body["details"]["count"] == 1
    assert body["details"]["problems"][0]["location"].endswith("1/bad.png")
    for bad in (
        {"name": "ok", "type": "image-classification", "source": "/tmp/fermion-definitely-missing"},
        {"name": "no spaces", "type": "image-classification", "source": str(root)},
        {"name": "ok", "type": "video", "source": str(root)},
        {"name": "ok", "type": "image-classification", "source": str(root), "split": [2, 0, 0]},
    ):
        answer = httpx.post(
            f"{server.url}/api/v1/datasets",
            json=bad,
            timeout=60,
            headers={"Authorization": f"Bearer {server.token}"},
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] in ("INVALID_INPUT", "INVALID_RECORDS")
        assert answer.json()["message"]


def test_a_single_class_is_refused(cli, tmp_path, digits_dir):
    shutil.copytree(digits_dir / "4", tmp_path / "one" / "4")
    result = cli(
        "dataset",
        "create",
        "--name",
        "one-class",
        "--type",
        "image-classification",
        "--source",
        tmp_path / "one",
        ok=False,
    )
    assert "classification needs at least two" in result.output
