from fastapi import APIRouter, status

from fermion.payloads import SweepCreate, SweepPublic, SweepsPublic
from fermion.server.deps import ContextDep, CurrentUser, SchedulerDep, SessionDep, Writer
from fermion.server.services import sweeps

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


@router.post("", response_model=SweepPublic, status_code=status.HTTP_201_CREATED)
def create_sweep(
    body: SweepCreate,
    context: ContextDep,
    scheduler: SchedulerDep,
    session: SessionDep,
    user: Writer,
) -> SweepPublic:
    """Search `fermion train`'s options: each trial a training job, proposed by Optuna's
    TPE sampler, pruned by the median rule on its per-epoch validation metric; the best
    trial's model is registered under the sweep's name."""
    return sweeps.create(context, session, scheduler, user, body)


@router.get("", response_model=SweepsPublic)
def list_sweeps(session: SessionDep, _: CurrentUser) -> SweepsPublic:
    return sweeps.list_sweeps(session)


@router.get("/{name}", response_model=SweepPublic)
def read_sweep(name: str, session: SessionDep, _: CurrentUser) -> SweepPublic:
    return sweeps.public(sweeps.get(session, name))


@router.post("/{name}/cancel", response_model=SweepPublic)
def cancel_sweep(
    name: str, context: ContextDep, scheduler: SchedulerDep, session: SessionDep, _: Writer
) -> SweepPublic:
    """Stop the sweep and its running trials; nothing is registered."""
    return sweeps.cancel(context, session, scheduler, sweeps.get(session, name))
