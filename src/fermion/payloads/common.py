"""What every body module shares: turning validation errors into one line, names."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fermion.dataset_types import DatasetType
from fermion.errors import InvalidInput
from fermion.precision import Precision

__all__ = ["DatasetType", "Precision"]  # defined in the foundation, part of the API

Model = TypeVar("Model", bound=BaseModel)


def describe_errors(errors: list[Any]) -> str:
    """Pydantic's error list as one line a person can act on."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def build(payload: type[Model], /, **values: Any) -> Model:
    """Construct a payload, turning a validation failure into InvalidInput."""
    try:
        return payload(**values)
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.errors())) from None


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class Health(BaseModel):
    status: str
    version: str
