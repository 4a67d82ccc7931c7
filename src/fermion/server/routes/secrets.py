from fastapi import APIRouter, status

from fermion.payloads import SecretPublic, SecretSet, SecretsPublic
from fermion.server.deps import ContextDep, SessionDep, Writer
from fermion.server.services import secrets

router = APIRouter(prefix="/secrets", tags=["secrets"])


@router.put("/{name}", response_model=SecretPublic)
def set_secret(
    name: str, body: SecretSet, context: ContextDep, session: SessionDep, user: Writer
) -> SecretPublic:
    """Set (or replace) one of the workspace's secrets. It is sealed with AES-GCM at once and never
    shown again; a job that names it (`secrets`) gets it as an environment variable."""
    return secrets.put(context, session, user, name, body.value)


@router.get("", response_model=SecretsPublic)
def list_secrets(session: SessionDep, _: Writer) -> SecretsPublic:
    """The workspace's secrets' names and dates, never their values (not for viewers)."""
    return secrets.list_secrets(session)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_secret(name: str, session: SessionDep, _: Writer) -> None:
    secrets.delete(session, name)
