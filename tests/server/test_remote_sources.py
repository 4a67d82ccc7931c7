"""Sources and stores beyond the local disk: a local source uploaded to the server (as
for a remote server), and a server whose artifact store is a real S3 server."""

from __future__ import annotations

import json

import pytest
import torch

import fermion as fm
from fermion.client import launcher
from tests import sources
from tests.conftest import free_port, start_server
from tests.s3 import BUCKET, s3_server


def test_upload_gives_the_same_version_as_reading_in_place(client, server, digits_dir):
    in_place = client.create_dataset("in-place", "image-classification", digits_dir)
    uploaded = client.create_dataset("uploaded", "image-classification", digits_dir, upload=True)
    assert uploaded.source.startswith("upload:")
    assert uploaded.digest == in_place.digest
    assert uploaded.split_counts == in_place.split_counts
    assert not list((server.artifacts / "uploads").glob("*"))  # consumed uploads are removed


def test_a_failed_ingest_of_an_upload_leaves_nothing(client, server, tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("text,label\ngood,pos\n,neg\n")
    with pytest.raises(fm.InvalidRecords, match="bad.csv:3"):
        client.create_dataset("bad-upload", "text-classification", source, upload=True)
    assert not list((server.artifacts / "uploads").glob("*"))
    with pytest.raises(fm.NotFound):
        client.get_dataset("bad-upload")


def test_upload_of_a_single_file_source(client, tmp_path):
    source = sources.write_rows(tmp_path / "reviews.jsonl", sources.review_rows(30))
    created = client.create_dataset("uploaded-text", "text-classification", source, upload=True)
    assert created.num_records == 30


def test_upload_over_the_size_limit_is_refused(tmp_path, digits_dir):
    small = start_server(tmp_path / "home", FERMION_MAX_UPLOAD_MB="0")
    try:
        with small.client() as client, pytest.raises(fm.PayloadTooLarge, match="limit"):
            client.create_dataset("too-big", "image-classification", digits_dir, upload=True)
    finally:
        launcher.stop(small.settings)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("s3"), free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def s3_backed(tmp_path_factory, s3):
    """A server whose artifact store is the S3 server, and which reads s3:// sources
    with the standard AWS environment variables."""
    running = start_server(
        tmp_path_factory.mktemp("s3-home"),
        FERMION_ARTIFACT_URL=f"s3://{BUCKET}/artifacts",
        FERMION_ARTIFACT_OPTIONS=json.dumps(s3.options),
        AWS_ACCESS_KEY_ID=s3.options["key"],
        AWS_SECRET_ACCESS_KEY=s3.options["secret"],
        AWS_ENDPOINT_URL=s3.endpoint,
    )
    yield running
    launcher.stop(running.settings)


def test_a_source_given_as_an_s3_url(s3_backed, s3, tmp_path):
    import s3fs

    bucket = s3fs.S3FileSystem(**s3.options, skip_instance_cache=True)
    local = sources.write_rows(tmp_path / "iris.csv", sources.iris_rows())
    bucket.put_file(str(local), f"{BUCKET}/sources/iris.csv")
    with s3_backed.client() as client:
        created = client.create_dataset(
            "s3-iris",
            "tabular-classification",
            f"s3://{BUCKET}/sources/iris.csv",
            label_column="species",
        )
        assert created.source == f"s3://{BUCKET}/sources/iris.csv"
        assert created.num_records == 150
        with pytest.raises(fm.InvalidInput, match="does not exist"):
            client.create_dataset(
                "s3-none", "tabular-classification", f"s3://{BUCKET}/sources/missing.csv"
            )


def test_datasets_on_an_s3_artifact_store(s3_backed, digits_dir, tmp_path):
    with s3_backed.client() as client:
        created = client.create_dataset("s3-digits", "image-classification", digits_dir)
        assert created.uri.startswith(f"s3://{BUCKET}/artifacts/datasets/s3-digits/")
        head = client.dataset_head("s3-digits", split="test", limit=3)
        assert len(head.rows) == 3
        # A client that cannot read the bucket gets the files through the API, cached
        # under its home by digest.
        train = fm.Dataset.from_local("s3-digits", client=client)
        cache = s3_backed.home / "cache" / "datasets" / created.digest
        assert (cache / "dataset_dict.json").exists()
        x, y = train[0]
        assert x.shape == (3, 8, 8) and isinstance(y, int)
        assert len(train) == created.split_counts["train"]
        assert torch.isfinite(x).all()
        assert client.delete_dataset("s3-digits") == ["s3-digits:v1"]


def test_train_register_and_deploy_on_an_s3_artifact_store(s3_backed, s3, digits_dir):
    """The whole path with every artifact in the bucket: the dataset, the job's files
    (checkpoints, logs), the registered model, and the replica loading it from there."""
    import s3fs

    bucket = s3fs.S3FileSystem(**s3.options, skip_instance_cache=True)
    with s3_backed.client() as client:
        client.create_dataset("s3-train", "image-classification", digits_dir)
        started = client.train("s3-train", epochs=2, memory="3Gi")
        job = client.wait_job(started.job.id, timeout=300)
        assert job.status.value == "succeeded", client.job_logs(job.id)
        stored = bucket.find(f"{BUCKET}/artifacts/jobs/{job.id}")
        assert any("/checkpoints/" in p for p in stored), stored
        assert any("/logs/attempt-1.log" in p for p in stored), stored
        model = client.get_model_version(started.config["name"])
        assert model.uri.startswith(f"s3://{BUCKET}/artifacts/models/")
        assert any(p.endswith(".safetensors") for p in bucket.find(model.uri))
        client.deploy(model.ref, name="s3-served", cpu=0.5, memory="1Gi")
        assert client.wait_deployment("s3-served", timeout=180).status == "ready"
        answer = client.predict("s3-served", image=next(digits_dir.rglob("*.png")))[0]
        assert answer["label"] in {p.name for p in digits_dir.iterdir() if p.is_dir()}
        client.delete_deployment("s3-served")


def test_an_s3_source_read_with_credentials_from_secrets(s3, tmp_path):
    """A server with no credentials of its own reads a bucket with the workspace's
    secrets; none, wrong ones, or secrets for a local path are a 4xx that says so."""
    import s3fs

    bucket = s3fs.S3FileSystem(**s3.options, skip_instance_cache=True)
    local = sources.write_rows(tmp_path / "iris.csv", sources.iris_rows())
    bucket.put_file(str(local), f"{BUCKET}/private/iris.csv")
    url = f"s3://{BUCKET}/private/iris.csv"
    nowhere = str(tmp_path / "no-aws-files")
    bare = start_server(
        tmp_path / "home",
        AWS_ENDPOINT_URL=s3.endpoint,
        AWS_SHARED_CREDENTIALS_FILE=nowhere,
        AWS_CONFIG_FILE=nowhere,
    )
    try:
        with bare.client() as client:

            def create(*secrets: str):
                return client.create_dataset(
                    "private-iris",
                    "tabular-classification",
                    url,
                    label_column="species",
                    secrets=secrets,
                )

            with pytest.raises(fm.InvalidInput, match="check the credentials"):
                create()
            client.set_secret("AWS_ACCESS_KEY_ID", "not-a-key")
            client.set_secret("AWS_SECRET_ACCESS_KEY", "not-a-secret")
            with pytest.raises(fm.InvalidInput, match=f"cannot read dataset source {url}"):
                create("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            client.set_secret("TEAM_KEY", s3.options["key"])
            client.set_secret("TEAM_SECRET", s3.options["secret"])
            with pytest.raises(fm.InvalidInput, match="TEAM_KEY is not a credential"):
                create("TEAM_KEY", "TEAM_SECRET")
            with pytest.raises(fm.NotFound, match="no secret named MISSING"):
                create("AWS_ACCESS_KEY_ID=MISSING")
            created = create("AWS_ACCESS_KEY_ID=TEAM_KEY", "AWS_SECRET_ACCESS_KEY=TEAM_SECRET")
            assert created.num_records == 150 and created.source == url
            with pytest.raises(fm.InvalidInput, match="s3://, gs:// or az://"):
                client.create_dataset(
                    "local-iris", "tabular-classification", local, secrets=["TEAM_KEY"]
                )
        assert s3.options["secret"] not in (bare.home / "server.log").read_text()
    finally:
        launcher.stop(bare.settings)
