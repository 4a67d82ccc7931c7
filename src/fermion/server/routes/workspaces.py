from fastapi import APIRouter, status

from fermion.payloads import (
    EncryptionChange,
    MemberAdd,
    Quota,
    WorkspaceCreate,
    WorkspacePublic,
    WorkspacesPublic,
)
from fermion.server.deps import AccountUser, AdminOnly, ContextDep, SessionDep
from fermion.server.services import workspaces

router = APIRouter(prefix="/workspaces", tags=["workspaces"])


@router.post("", response_model=WorkspacePublic, status_code=status.HTTP_201_CREATED)
def create_workspace(body: WorkspaceCreate, session: SessionDep, _: AdminOnly) -> WorkspacePublic:
    return workspaces.create(session, body)


@router.get("", response_model=WorkspacesPublic)
def list_workspaces(session: SessionDep, user: AccountUser) -> WorkspacesPublic:
    """The workspaces you belong to (an admin: all of them), with your role in each."""
    return workspaces.list_workspaces(session, user)


@router.get("/{name}", response_model=WorkspacePublic)
def read_workspace(name: str, session: SessionDep, user: AccountUser) -> WorkspacePublic:
    return workspaces.read(session, user, name)


@router.put("/{name}/members", response_model=WorkspacePublic)
def add_member(name: str, body: MemberAdd, session: SessionDep, _: AdminOnly) -> WorkspacePublic:
    """Add a user to the workspace, or change their role in it."""
    return workspaces.add_member(session, name, body)


@router.delete("/{name}/members/{user}", response_model=WorkspacePublic)
def remove_member(name: str, user: str, session: SessionDep, _: AdminOnly) -> WorkspacePublic:
    return workspaces.remove_member(session, name, user)


@router.put("/{name}/quota", response_model=WorkspacePublic)
def set_quota(name: str, body: Quota, session: SessionDep, _: AdminOnly) -> WorkspacePublic:
    """Replace the workspace's quota (fields left out: no limit); the scheduler keeps
    its jobs and replicas within it."""
    return workspaces.set_quota(session, name, body)


@router.put("/{name}/encryption", response_model=WorkspacePublic)
def set_encryption(
    name: str, body: EncryptionChange, session: SessionDep, context: ContextDep, _: AdminOnly
) -> WorkspacePublic:
    """Seal the workspace's dataset and model files at rest from now on (AES-GCM); the
    files it holds are sealed in the background. Turning it off is refused."""
    return workspaces.set_encryption(context, session, name, body.enabled)


@router.post("/{name}/encryption/rotate", response_model=WorkspacePublic)
def rotate_key(
    name: str, session: SessionDep, context: ContextDep, _: AdminOnly
) -> WorkspacePublic:
    """A new data key seals new files at once; every file is sealed again under it in the
    background (reads go on), and then the old key is deleted."""
    return workspaces.rotate_key(context, session, name)
