from fastapi import APIRouter, Request, status

from fermion.payloads import UploadPublic
from fermion.server.deps import ContextDep, Writer
from fermion.server.services import uploads

router = APIRouter(prefix="/uploads", tags=["uploads"])


@router.post("", response_model=UploadPublic, status_code=status.HTTP_201_CREATED)
async def create_upload(request: Request, context: ContextDep, _: Writer) -> UploadPublic:
    """Upload a dataset source as a tar.gz body; use it as `upload:ID/NAME`."""
    return await uploads.receive(context, request.stream())
