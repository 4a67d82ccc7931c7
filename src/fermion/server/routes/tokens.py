from fastapi import APIRouter, status

from fermion.payloads import TokenCreate, TokenCreated, TokensPublic
from fermion.server.deps import AccountUser, SessionDep
from fermion.server.services import tokens

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, session: SessionDep, user: AccountUser) -> TokenCreated:
    """A new API token for you, expiring after `expires` (30d, 12h) or never. Its secret
    is in this answer only; the server keeps a hash."""
    return tokens.create(session, user, body)


@router.get("", response_model=TokensPublic)
def list_tokens(session: SessionDep, user: AccountUser) -> TokensPublic:
    """Your API tokens (not their secrets)."""
    return tokens.list_tokens(session, user)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: int, session: SessionDep, user: AccountUser) -> None:
    """Revoke one of your tokens: the next request made with it is refused (401)."""
    tokens.revoke(session, user, token_id)
