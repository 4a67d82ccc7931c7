"""Errors a user can cause.

    FermionError
     ├── InvalidInput        400  the request or its data is wrong
     │    └── InvalidRecords 400  a dataset source has records that failed validation
     ├── Unauthorized        401  no token, or a token the server does not know
     ├── Forbidden           403  a known token that may not do this
     │    └── SourceOutsideRoots 403  a local source the server may not read: upload it
     ├── NotFound            404
     ├── Conflict            409  the request clashes with the current state
     ├── PayloadTooLarge     413
     ├── CapacityExceeded    422  asks for more than the platform has
     ├── ServerUnavailable   503  no server answers (client side only)
     └── StillRunning        504  the work asked for goes on in a job: wait for that

The server sends `{"error": CODE, "message": ..., "details": ...}` with the class's
status; the SDK raises the same class again from that body.
"""

from __future__ import annotations

from typing import Any, ClassVar

# A job that exits with this code failed for a reason that another attempt cannot fix
# (a model folder that does not load, a configuration that is wrong): it is not retried,
# and the last "error: ..." line of its log becomes its failure reason. (EX_CONFIG.)
EXIT_UNRECOVERABLE = 78


class FermionError(Exception):
    code: ClassVar[str] = "FERMION_ERROR"
    status: ClassVar[int] = 400

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(FermionError):
    code = "INVALID_INPUT"
    status = 400


class InvalidRecords(InvalidInput):
    code = "INVALID_RECORDS"


class Unauthorized(FermionError):
    code = "UNAUTHORIZED"
    status = 401


class Forbidden(FermionError):
    code = "FORBIDDEN"
    status = 403


class SourceOutsideRoots(Forbidden):
    """A local dataset source outside the folders the server reads sources from; the
    CLI and SDK upload it instead."""

    code = "SOURCE_OUTSIDE_ROOTS"


class NotFound(FermionError):
    code = "NOT_FOUND"
    status = 404


class Conflict(FermionError):
    code = "CONFLICT"
    status = 409


class PayloadTooLarge(FermionError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class CapacityExceeded(FermionError):
    code = "CAPACITY_EXCEEDED"
    status = 422


class ServerUnavailable(FermionError):
    code = "SERVER_UNAVAILABLE"
    status = 503


class StillRunning(FermionError):
    code = "STILL_RUNNING"
    status = 504


_BY_CODE: dict[str, type[FermionError]] = {
    cls.code: cls
    for cls in (
        FermionError,
        InvalidInput,
        InvalidRecords,
        Unauthorized,
        Forbidden,
        SourceOutsideRoots,
        NotFound,
        Conflict,
        PayloadTooLarge,
        CapacityExceeded,
        ServerUnavailable,
        StillRunning,
    )
}


def error_from_body(status: int, body: Any) -> FermionError:
    """Rebuild the server's error on the client side."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        cls = _BY_CODE.get(str(body.get("error")), FermionError)
        return cls(body["message"], body.get("details"))
    return FermionError(f"the server answered HTTP {status}: {str(body)[:500]}")
