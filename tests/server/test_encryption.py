"""Encryption at rest on a real server: an encrypted workspace's dataset and model files
hold none of their plaintext on disk (the same data in a plain workspace does: the check
can fail), and the dataset trains, the model deploys and answers as usual. A key rotation
seals every file again while reads go on, then deletes the old key; turning encryption
on seals what a workspace already holds."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import pytest

import fermion as fm
from fermion.errors import Conflict
from fermion.payloads import WorkspacePublic
from tests import sources
from tests.conftest import start_server, stop_server

MAGIC = b"FMSEAL01"  # a sealed file's first bytes, then the id of its data key


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(
        tmp_path_factory.mktemp("encryption-home"), FERMION_CAPACITY="cpu=4,memory=12Gi"
    )
    with running.client() as admin:
        admin.create_workspace("vault", encrypted=True)
        admin.create_workspace("plain")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, list[bytes]]:
    folder = sources.digits_folder(tmp_path_factory.mktemp("digits"), limit=400)
    return folder, [p.read_bytes() for p in sorted(folder.rglob("*.png"))]


def files_under(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def holding(files: dict[Path, bytes], pieces: list[bytes]) -> list[Path]:
    """The files that contain any of `pieces` as they are."""
    return [path for path, data in files.items() if any(piece in data for piece in pieces)]


def key_ids(folder: Path) -> set[int | None]:
    """The data key each file is sealed with (None: a plain file)."""
    found = set()
    for data in files_under(folder).values():
        sealed = data.startswith(MAGIC)
        found.add(struct.unpack(">I", data[8:12])[0] if sealed else None)
    return found


def wait_sealed(admin: fm.Client, workspace: str, timeout: float = 60) -> WorkspacePublic:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = admin.get_workspace(workspace)
        if not found.encryption.sealing and found.encryption.keys == 1:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{workspace} still sealing: {found.encryption}")


def test_an_encrypted_dataset_holds_no_source_bytes_and_trains_and_serves(server, digits):
    folder, images = digits
    with server.client(workspace="vault") as vault, server.client(workspace="plain") as plain:
        sealed = vault.create_dataset("digits", "image-classification", str(folder))
        clear = plain.create_dataset("digits", "image-classification", str(folder))
        assert (sealed.encrypted, clear.encrypted) == (True, False)
        assert sealed.digest == clear.digest  # the same records, stored two ways

        # The plain copy holds the PNG files as they are: the search below can find them.
        assert holding(files_under(Path(clear.uri)), images)
        assert holding(files_under(Path(sealed.uri)), images) == []
        assert key_ids(Path(sealed.uri)) == {vault.get_workspace("vault").encryption.key}

        # Read through the API as before: rows, samples, and the dataset in a job.
        assert vault.dataset_head(sealed.ref, limit=3).rows
        local = fm.Dataset.from_local(sealed.ref, client=vault)
        assert len(local) == sealed.split_counts["train"] and local[0][0].shape[0] == 3

        started = vault.train("digits", epochs=2, memory="3Gi")
        job = vault.wait_job(started.job.id, timeout=300)
        assert job.status.value == "succeeded", vault.job_logs(job.id)
        model = vault.get_model_version(started.config["name"])
        assert model.encrypted and model.metrics["test"]["accuracy"] > 0.5
        assert None not in key_ids(Path(model.uri))  # weights, labels, preprocessing: sealed

        vault.deploy(model.ref, name="vault-digits", cpu=0.5, memory="1Gi")
        vault.wait_deployment("vault-digits", timeout=180)
        answer = vault.predict("vault-digits", image=images[0])[0]
        assert answer["label"] in local.classes

    # Nowhere under the server's home (job folders, caches, scratch) is a source image,
    # except in the plain workspace's own copy.
    everywhere = {
        p: d for p, d in files_under(server.home).items() if not p.is_relative_to(clear.uri)
    }
    assert holding(everywhere, images) == []


def test_a_rotation_seals_every_file_again_while_reads_go_on(server, digits):
    folder, _ = digits
    with server.client() as admin, server.client(workspace="vault") as vault:
        version = vault.create_dataset("rotating", "image-classification", str(folder))
        before = admin.get_workspace("vault").encryption.key
        rows = vault.dataset_head(version.ref, limit=5).rows
        failures: list[Exception] = []
        stop = threading.Event()

        def read() -> None:
            with server.client(workspace="vault") as reader:
                while not stop.is_set():
                    try:
                        assert reader.dataset_head(version.ref, limit=5).rows == rows
                    except Exception as exc:  # noqa: BLE001 - any failure is the finding
                        failures.append(exc)

        readers = [threading.Thread(target=read) for _ in range(2)]
        for thread in readers:
            thread.start()
        try:
            rotated = admin.rotate_workspace_key("vault")
            assert rotated.encryption.key != before and rotated.encryption.keys == 2
            done = wait_sealed(admin, "vault")
        finally:
            stop.set()
            for thread in readers:
                thread.join()
        assert failures == []
        assert key_ids(Path(version.uri)) == {done.encryption.key}
        assert fm.Dataset.from_local(version.ref, client=vault)[0][1] in range(10)


def test_turning_encryption_on_seals_what_a_workspace_holds(server, digits):
    folder, images = digits
    with server.client() as admin:
        admin.create_workspace("later")
        with server.client(workspace="later") as later:
            version = later.create_dataset("digits", "image-classification", str(folder))
            assert None in key_ids(Path(version.uri))
            load = (
                "import os, fermion as fm; fm.Dataset.from_local('digits');"
                " print('CACHE', os.environ['FERMION_CACHE_DIR'])"
            )
            loader = later.submit_job(  # a job caches a plain copy for the workspace
                ["python", "-c", load], name="loader", cpu=0.5, workdir=None
            )
            assert later.wait_job(loader.id, timeout=120).status.value == "succeeded"
            cache = Path(later.job_logs(loader.id).split("CACHE ", 1)[1].split()[0])
            assert holding(files_under(cache), images)
            admin.encrypt_workspace("later")
            assert holding(files_under(cache), images) == []  # gone with encryption on
            wait_sealed(admin, "later")
            assert later.get_dataset_version(version.ref).encrypted
            assert holding(files_under(Path(version.uri)), images) == []
            loaded = fm.Dataset.from_local(version.ref, client=later)
            assert len(loaded) == version.split_counts["train"]
        with pytest.raises(Conflict, match="cannot be turned off"):
            admin._json("PUT", "/api/v1/workspaces/later/encryption", json={"enabled": False})
        with pytest.raises(Conflict, match="does not encrypt"):
            admin.rotate_workspace_key("plain")


def test_a_server_with_another_master_key_says_what_is_wrong(tmp_path, digits):
    folder, _ = digits
    home = tmp_path / "home"
    first = start_server(home)
    try:
        with first.client() as admin:
            admin.create_workspace("vault", encrypted=True)
        with first.client(workspace="vault") as vault:
            ref = vault.create_dataset("digits", "image-classification", str(folder)).ref
    finally:
        stop_server(first)
    (home / "master.key").unlink()  # lost: the next start makes another
    second = start_server(home, port=first.port)
    try:
        with second.client(workspace="vault") as vault, pytest.raises(Conflict, match="master"):
            vault.dataset_head(ref)
    finally:
        stop_server(second)


def test_a_key_a_writer_holds_outlives_a_rotation_until_its_files_are_sealed_again(tmp_path):
    """A rotation and a reseal pass while a version is being written (its row not yet
    committed) keep the old key; the next pass, after the row exists, reseals its files
    and only then deletes the key."""
    from sqlalchemy import select

    from fermion.server.services import encryption
    from fermion.settings import Settings
    from fermion.store.context import ServerContext
    from fermion.store.keyring import DataKeyRow
    from fermion.store.tables import DatasetRow, DatasetVersionRow
    from fermion.store.tenancy import WorkspaceRow, within

    context = ServerContext.open(Settings(home=tmp_path / "home"))
    try:
        with context.metadata.session() as session:
            workspace = WorkspaceRow(name="held", quota={}, encrypted=True)
            session.add(workspace)
            session.commit()
            ws = workspace.id
        with (
            context.metadata.session() as session,
            within(session, ws),
            encryption.sealing(context, session) as old,
        ):
            context.artifacts.write_bytes("datasets/held/v1/data.bin", b"plain" * 100, old)
            encryption.rotate(context, session, session.get(WorkspaceRow, ws))
            encryption.reseal_workspace(context, ws)  # the writer still holds `old`
            assert session.get(DataKeyRow, old.key_id) is not None
            dataset = DatasetRow(name="held", type="tabular-classification", next_version=2)
            session.add(dataset)
            session.add(
                DatasetVersionRow(
                    dataset=dataset,
                    version=1,
                    digest="d",
                    source="s",
                    spec={},
                    uri=context.artifacts.uri("datasets/held/v1"),
                    num_records=1,
                    split_counts={},
                    class_names=[],
                    class_counts={},
                    size_bytes=500,
                    skipped={},
                    sealed=True,
                )
            )
            session.commit()
        encryption.reseal_workspace(context, ws)
        with context.metadata.session() as session:
            keys = session.scalars(select(DataKeyRow.id)).all()
        assert old.key_id not in keys and len(keys) == 1
        assert context.artifacts.sealed_with("datasets/held/v1/data.bin") == keys[0]
        assert context.artifacts.read_bytes("datasets/held/v1/data.bin") == b"plain" * 100
    finally:
        context.close()
