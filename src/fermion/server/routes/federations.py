from fastapi import APIRouter, status

from fermion.payloads import FederationCreate, FederationPublic, FederationsPublic
from fermion.server.deps import ContextDep, CurrentUser, SchedulerDep, SessionDep, Writer
from fermion.server.services import federations

router = APIRouter(prefix="/federations", tags=["federations"])


@router.post("", response_model=FederationPublic, status_code=status.HTTP_201_CREATED)
def create_federation(
    body: FederationCreate,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    user: Writer,
) -> FederationPublic:
    """Train one model on datasets that never leave their sites: a coordinator job runs
    Flower's SuperLink and FedAvg (or FedProx) over the rounds; each site is a job of its
    own, isolated, whose token reads its dataset only. The global model is registered
    under the federation's name."""
    return federations.create(context, session, scheduler, user, body)


@router.get("", response_model=FederationsPublic)
def list_federations(session: SessionDep, _: CurrentUser) -> FederationsPublic:
    return federations.list_federations(session)


@router.get("/{name}", response_model=FederationPublic)
def read_federation(name: str, session: SessionDep, _: CurrentUser) -> FederationPublic:
    return federations.public(session, federations.get(session, name))


@router.post("/{name}/cancel", response_model=FederationPublic)
def cancel_federation(
    name: str, scheduler: SchedulerDep, session: SessionDep, _: Writer
) -> FederationPublic:
    """Stop the rounds and every site; nothing is registered."""
    return federations.cancel(session, scheduler, federations.get(session, name))
