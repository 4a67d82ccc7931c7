"""Encryption at rest: which workspaces seal their files, their data keys, rotation.

A workspace created with `--encrypted` (or every workspace, with FERMION_ENCRYPT_AT_REST)
seals the files of its dataset and model versions as they are written (store/sealing.py,
under its active data key, store/keyring.py). Reading needs nothing: the artifact store
opens a sealed file with the key its header names, so the API, training and serving see
plaintext as before.

Rotation and turning encryption on work without downtime. Both only change keys in the
database; the Resealer (a reconciler of the scheduler) then seals every file of the
workspace again under the active key, one file at a time, each replaced atomically, and
deletes the retired keys once no file needs them. Reads go on throughout: each file
opens with whichever key it names. The work is found again from the database after a
restart, so a rotation interrupted by one finishes after it.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fermion.errors import Conflict
from fermion.payloads import Encryption
from fermion.scheduler.confinement import workspace_cache_dir
from fermion.store import tenancy
from fermion.store.context import ServerContext
from fermion.store.keyring import ACTIVE, RETIRING, DataKeyRow, wrap
from fermion.store.sealing import Seal
from fermion.store.tables import DatasetRow, DatasetVersionRow, ModelRow, ModelVersionRow
from fermion.store.tenancy import WorkspaceRow

log = logging.getLogger("fermion.server")
_new_key_lock = threading.Lock()  # one active key per workspace, however many writers
RETRY_S = 60  # after a failed pass over a workspace, the next one waits this long


def encrypts(context: ServerContext, workspace: WorkspaceRow) -> bool:
    return workspace.encrypted or context.settings.encrypt_at_rest


def _keys(session: Session, workspace_id: int) -> list[DataKeyRow]:
    query = select(DataKeyRow).where(DataKeyRow.workspace_id == workspace_id)
    return list(session.scalars(query.order_by(DataKeyRow.id)))


def _new_key(context: ServerContext, session: Session, workspace_id: int) -> DataKeyRow:
    wrapped = wrap(
        context.keyring.master, workspace_id, secrets.token_bytes(32), secrets.token_bytes(12)
    )
    row = DataKeyRow(workspace_id=workspace_id, wrapped=wrapped, state=ACTIVE)
    session.add(row)
    session.commit()
    return row


@contextmanager
def sealing(context: ServerContext, session: Session) -> Iterator[Seal | None]:
    """What the files a request writes are sealed with, until it has committed their row:
    its workspace's active key (made on first use), or None where the workspace does not
    encrypt. The key is kept while the writer holds it, even if a rotation retires it."""
    workspace_id = tenancy.entered(session)
    if workspace_id is None:
        raise RuntimeError("sealing needs a session entered into a workspace")
    workspace = session.get(WorkspaceRow, workspace_id)
    if workspace is None or not encrypts(context, workspace):
        yield None
        return
    with _new_key_lock:  # the key read and held at once: a reseal's check sees the hold
        seal = context.keyring.active(workspace_id)
        if seal is None:
            with context.metadata.session() as own:
                _new_key(context, own, workspace_id)
            seal = context.keyring.active(workspace_id)
        context.keyring.hold(seal.key_id)
    try:
        yield seal
    finally:
        context.keyring.release(seal.key_id)


def describe(session: Session, workspace: WorkspaceRow) -> Encryption:
    keys = _keys(session, workspace.id)
    active = next((k.id for k in keys if k.state == ACTIVE), None)
    return Encryption(
        enabled=workspace.encrypted,
        key=active,
        keys=len(keys),
        sealing=any(k.state == RETIRING for k in keys) or _unsealed(session, workspace),
    )


def turn_on(
    context: ServerContext, session: Session, workspace: WorkspaceRow, enabled: bool
) -> None:
    """Seal the workspace's files from now on; those it has are sealed in the background,
    and the plain copies its jobs cached are deleted (they download sealed ones again).
    There is no turning it off: files once sealed stay sealed."""
    if not enabled and workspace.encrypted:
        raise Conflict(
            f"workspace {workspace.name} encrypts its files at rest, and that cannot be"
            " turned off; copy what it holds into a workspace that does not encrypt"
        )
    if enabled and not workspace.encrypted:
        shutil.rmtree(workspace_cache_dir(context.settings, workspace.id), ignore_errors=True)
    workspace.encrypted = workspace.encrypted or enabled
    session.commit()


def rotate(context: ServerContext, session: Session, workspace: WorkspaceRow) -> None:
    """A new active key; the old one seals nothing new, and is deleted once every file
    is sealed again under the new one (Resealer)."""
    if not encrypts(context, workspace):
        raise Conflict(
            f"workspace {workspace.name} does not encrypt its files; turn it on first:"
            f" fermion workspace encrypt {workspace.name}"
        )
    with _new_key_lock:
        for key in _keys(session, workspace.id):
            key.state = RETIRING
        session.flush()
        _new_key(context, session, workspace.id)


# -- sealing again, in the background -----------------------------------------------------
def _versions(session: Session, workspace_id: int, unsealed_only: bool = False) -> list[Any]:
    """The workspace's dataset and model versions (those not yet sealed, if asked)."""
    found: list[Any] = []
    for version, parent in ((DatasetVersionRow, DatasetRow), (ModelVersionRow, ModelRow)):
        query = select(version).join(parent).where(parent.workspace_id == workspace_id)
        if unsealed_only:
            query = query.where(version.sealed.is_(False)).limit(1)
        found += session.scalars(query.execution_options(**{tenancy.ALL_WORKSPACES: True}))
    return found


def _unsealed(session: Session, workspace: WorkspaceRow) -> bool:
    return bool(_versions(session, workspace.id, unsealed_only=True))


def _seal_again(context: ServerContext, key: str, seal: Seal) -> None:
    """Replace the file by one sealed with `seal` (atomically: readers see either)."""
    with context.artifacts.open_read(key) as src, context.artifacts.open_write(key, seal) as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)


def reseal_workspace(context: ServerContext, workspace_id: int) -> None:
    """Seal every file of the workspace under its active key, then delete its others."""
    with (
        context.metadata.session() as session,
        tenancy.within(session, workspace_id),
        sealing(context, session) as seal,
    ):
        if seal is None:
            return
        # Only keys retired before this pass are deleted after it: a rotation during the
        # pass retires `seal` itself, whose files the next pass seals again.
        retired = [k.id for k in _keys(session, workspace_id) if k.state == RETIRING]
        for version in _versions(session, workspace_id):
            if not version.sealed:  # from now on, readers take its files through the store
                version.sealed = True
                session.commit()
            prefix = context.artifacts.key_of(version.uri)
            for rel in context.artifacts.list_files(prefix):
                key = f"{prefix}/{rel}"
                if context.artifacts.sealed_with(key) != seal.key_id:
                    _seal_again(context, key, seal)
        with _new_key_lock:  # a writer still holding a retired key keeps it: next pass
            done = [k for k in retired if not context.keyring.in_use(k)]
            session.execute(delete(DataKeyRow).where(DataKeyRow.id.in_(done)))
            session.commit()
    for key_id in done:
        context.keyring.forget(key_id)
    log.info("workspace %d: files sealed under data key %d", workspace_id, seal.key_id)


class Resealer:
    """A scheduler reconciler: finds workspaces with files to seal again and does it in a
    thread of its own, so that scheduling never waits for it."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self._thread: threading.Thread | None = None
        # Encrypting workspaces whose every file was seen sealed under the active key
        # since this server started (a file's header is one small read). New files are
        # sealed as they are written, so only a rotation makes one need work again.
        self._checked: set[int] = set()
        self._failed_at: dict[int, float] = {}  # workspace id -> when a pass last failed

    def _needs_work(self, session: Session, workspace: WorkspaceRow) -> bool:
        if not encrypts(self.context, workspace):
            return False
        if not workspace.encrypted:  # FERMION_ENCRYPT_AT_REST: every workspace, new ones too
            workspace.encrypted = True
            session.commit()
        if time.monotonic() - self._failed_at.get(workspace.id, -RETRY_S) < RETRY_S:
            return False
        retiring = any(k.state == RETIRING for k in _keys(session, workspace.id))
        return retiring or workspace.id not in self._checked

    def reconcile(self, session: Session) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        workspaces = session.scalars(select(WorkspaceRow)).all()
        todo = [w.id for w in workspaces if self._needs_work(session, w)]
        if todo:
            self._thread = threading.Thread(
                target=self._run, args=(todo,), name="fermion-resealer", daemon=True
            )
            self._thread.start()

    def _run(self, workspace_ids: list[int]) -> None:
        for workspace_id in workspace_ids:
            try:
                reseal_workspace(self.context, workspace_id)
                self._checked.add(workspace_id)
                self._failed_at.pop(workspace_id, None)
            except Exception:
                self._failed_at[workspace_id] = time.monotonic()
                log.exception(
                    "sealing workspace %d's files again failed; retrying in %d s",
                    workspace_id,
                    RETRY_S,
                )
