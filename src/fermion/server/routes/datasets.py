from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from fermion.errors import InvalidInput
from fermion.payloads import (
    DatasetCreate,
    DatasetFiles,
    DatasetHead,
    DatasetPublic,
    DatasetSamples,
    DatasetsPublic,
    DatasetVersionPublic,
)
from fermion.server.deps import ContextDep, CurrentUser, SessionDep, Writer
from fermion.server.services import dataset_contents, datasets

router = APIRouter(prefix="/datasets", tags=["datasets"])


def _version(text: str) -> int | None:
    """A version in a URL path: 3, v3, or latest."""
    if text == "latest":
        return None
    number = text.removeprefix("v")
    if not (number.isascii() and number.isdigit()) or len(number) > 18:
        raise InvalidInput(f"{text!r} is not a version; write 3, v3 or latest")
    return int(number)


@router.post("", response_model=DatasetVersionPublic, status_code=status.HTTP_201_CREATED)
def create_dataset(
    request: DatasetCreate,
    response: Response,
    context: ContextDep,
    session: SessionDep,
    user: Writer,
) -> DatasetVersionPublic:
    """Ingest a source as a new version; answers 200 with the existing version when the
    content is already there."""
    created = datasets.create_dataset(context, session, user, request)
    if created.existing:
        response.status_code = status.HTTP_200_OK
    return created


@router.get("", response_model=DatasetsPublic)
def list_datasets(session: SessionDep, _: CurrentUser) -> DatasetsPublic:
    return datasets.list_datasets(session)


@router.get("/{name}", response_model=DatasetPublic)
def read_dataset(name: str, session: SessionDep, _: CurrentUser) -> DatasetPublic:
    return datasets.dataset_public(datasets.get_dataset(session, name))


@router.delete("/{name}", response_model=list[str])
def delete_dataset(name: str, context: ContextDep, session: SessionDep, _: Writer) -> list[str]:
    return datasets.delete(context, session, name, None)


@router.get("/{name}/versions/{version}", response_model=DatasetVersionPublic)
def read_version(
    name: str, version: str, session: SessionDep, _: CurrentUser
) -> DatasetVersionPublic:
    return datasets.version_public(datasets.get_version(session, name, _version(version)))


@router.delete("/{name}/versions/{version}", response_model=list[str])
def delete_version(
    name: str, version: str, context: ContextDep, session: SessionDep, _: Writer
) -> list[str]:
    return datasets.delete(context, session, name, _version(version))


@router.get("/{name}/versions/{version}/head", response_model=DatasetHead)
def read_head(
    name: str,
    version: str,
    context: ContextDep,
    session: SessionDep,
    _: CurrentUser,
    split: str = "train",
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> DatasetHead:
    row = datasets.get_version(session, name, _version(version))
    return dataset_contents.head(context, row, split, limit)


@router.get("/{name}/versions/{version}/samples", response_model=DatasetSamples)
def read_samples(
    name: str,
    version: str,
    context: ContextDep,
    session: SessionDep,
    _: CurrentUser,
    split: str = "train",
    per_class: Annotated[int, Query(ge=1, le=20)] = 3,
) -> DatasetSamples:
    """A few records of each class: their positions in the split and their labels."""
    row = datasets.get_version(session, name, _version(version))
    return dataset_contents.samples(context, row, split, per_class)


@router.get("/{name}/versions/{version}/images/{split}/{index}")
def read_image(
    name: str,
    version: str,
    split: str,
    index: Annotated[int, Path(ge=0)],
    context: ContextDep,
    session: SessionDep,
    _: CurrentUser,
) -> Response:
    """One stored image, as it was ingested (`index`: its position in the split)."""
    row = datasets.get_version(session, name, _version(version))
    data, media_type = dataset_contents.image(context, row, split, index)
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/{name}/versions/{version}/audio/{split}/{index}")
def read_sound(
    name: str,
    version: str,
    split: str,
    index: Annotated[int, Path(ge=0)],
    context: ContextDep,
    session: SessionDep,
    _: CurrentUser,
    spectrogram: bool = False,
) -> Response:
    """One stored sound file, as it was ingested (`index`: its position in the split), or
    with `spectrogram=true` its log-mel spectrogram as a PNG image."""
    row = datasets.get_version(session, name, _version(version))
    if spectrogram:
        data, media_type = dataset_contents.spectrogram(context, row, split, index), "image/png"
    else:
        data, media_type = dataset_contents.sound(context, row, split, index)
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/{name}/versions/{version}/files", response_model=DatasetFiles)
def list_files(
    name: str, version: str, context: ContextDep, session: SessionDep, _: CurrentUser
) -> DatasetFiles:
    return dataset_contents.files(context, datasets.get_version(session, name, _version(version)))


@router.get("/{name}/versions/{version}/files/{path:path}")
def download_file(
    name: str, version: str, path: str, context: ContextDep, session: SessionDep, _: CurrentUser
) -> StreamingResponse:
    """One file of a version, for clients that cannot read the artifact store directly."""
    row = datasets.get_version(session, name, _version(version))
    return StreamingResponse(
        dataset_contents.open_file(context, row, path), media_type="application/octet-stream"
    )
