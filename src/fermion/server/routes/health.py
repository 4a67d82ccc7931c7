from fastapi import APIRouter

from fermion import __version__
from fermion.payloads import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness; the only route that needs no token."""
    return Health(status="ok", version=__version__)
