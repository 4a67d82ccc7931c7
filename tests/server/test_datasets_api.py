"""The datasets API over raw HTTP: status codes and bodies a non-Python client sees."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture()
def http(server):
    with httpx.Client(
        base_url=f"{server.url}/api/v1",
        timeout=60,
        headers={"Authorization": f"Bearer {server.token}"},
    ) as c:
        yield c


def test_create_is_201_then_200_for_the_same_content(http, digits_dir):
    body = {"name": "api-digits", "type": "image classification", "source": str(digits_dir)}
    first = http.post("/datasets", json=body)
    assert first.status_code == 201 and first.json()["ref"] == "api-digits:v1"
    again = http.post("/datasets", json=body)
    assert again.status_code == 200 and again.json()["existing"] is True


def test_versions_head_and_files(http, digits_dir):
    http.post(
        "/datasets",
        json={"name": "api-files", "type": "image-classification", "source": str(digits_dir)},
    )
    for version in ("1", "v1", "latest"):
        assert http.get(f"/datasets/api-files/versions/{version}").json()["version"] == 1
    head = http.get("/datasets/api-files/versions/1/head", params={"split": "test", "limit": 2})
    assert len(head.json()["rows"]) == 2
    files = http.get("/datasets/api-files/versions/1/files").json()["files"]
    assert "dataset_dict.json" in files and any(f.startswith("train/") for f in files)
    download = http.get("/datasets/api-files/versions/1/files/dataset_dict.json")
    assert download.status_code == 200 and b"train" in download.content


@pytest.mark.parametrize(
    "path,params,status,message",
    [
        ("/datasets/api-nope", {}, 404, "dataset 'api-nope' not found"),
        ("/datasets/api-files/versions/seven", {}, 400, "write 3, v3 or latest"),
        ("/datasets/api-files/versions/99", {}, 404, "has no version v99"),
        ("/datasets/api-files/versions/1/head", {"split": "dev"}, 400, "unknown split 'dev'"),
        ("/datasets/api-files/versions/1/head", {"limit": 0}, 400, "limit"),
        ("/datasets/api-files/versions/1/files/..%2F..%2Fcredentials", {}, 404, "has no file"),
        ("/datasets/api-files/versions/1/files/nothing.bin", {}, 404, "has no file"),
    ],
)
def test_bad_requests_are_4xx_with_a_message(http, digits_dir, path, params, status, message):
    http.post(
        "/datasets",
        json={"name": "api-files", "type": "image-classification", "source": str(digits_dir)},
    )
    response = http.get(path, params=params)
    assert response.status_code == status
    assert message in response.json()["message"]


def test_a_body_that_is_not_json_is_a_400(http):
    response = http.post(
        "/datasets", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_INPUT"


def test_a_folder_of_a_version_is_not_a_file(http, digits_dir):
    http.post(
        "/datasets",
        json={"name": "api-files", "type": "image-classification", "source": str(digits_dir)},
    )
    response = http.get("/datasets/api-files/versions/1/files/train")
    assert response.status_code == 404 and "has no file" in response.json()["message"]


def test_samples_cover_every_class_and_images_come_back_as_stored(http, digits_dir):
    http.post(
        "/datasets",
        json={"name": "api-samples", "type": "image-classification", "source": str(digits_dir)},
    )
    base = "/datasets/api-samples/versions/latest"
    found = http.get(f"{base}/samples", params={"split": "train", "per_class": 2}).json()
    assert sorted({s["label"] for s in found["samples"]}) == [str(i) for i in range(10)]
    assert len(found["samples"]) == 20
    image = http.get(f"{base}/images/train/{found['samples'][-1]['index']}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    missing = http.get(f"{base}/images/train/99999")
    assert missing.status_code == 404 and "no record 99999" in missing.json()["message"]
    assert http.get(f"{base}/images/nope/0").status_code == 400
    assert http.get(f"{base}/images/train/-1").status_code == 400


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("ftp://127.0.0.1/data", "ftp:// is not a source Fermion reads"),
        ("zip://a.csv::file:///tmp/a.zip", "zip:// is not a source Fermion reads"),
        ("tar://a.csv", "tar:// is not a source Fermion reads"),
        ("hf://datasets/someone/reviews", "hf:// is not a source Fermion reads"),
        ("http://127.0.0.1:9/x.csv", "http:// is not a source Fermion reads"),
        ("s3://fermion-no-such-bucket/reviews.csv", "cannot read dataset source s3://"),
        ("/tmp/fermion-no-such-folder", "does not exist"),
    ],
)
def test_a_source_that_cannot_be_read_is_a_400_that_says_why(http, source, message):
    answer = http.post(
        "/datasets", json={"name": "unreadable", "type": "text-classification", "source": source}
    )
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["message"]


def test_ids_beyond_any_database_integer_are_refused_not_a_500(http):
    for path, status in (
        ("/jobs/99999999999999999999999", 404),
        ("/jobs/-1", 404),
        ("/models/x/versions/99999999999999999999", 400),  # "... is not a version"
        ("/datasets/x/versions/v²", 400),
    ):
        assert http.get(path).status_code == status, path
