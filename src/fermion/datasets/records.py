"""What a source reader yields: valid records and the problems it found."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from fermion.errors import InvalidRecords
from fermion.payloads import Problem

REPORT_LIMIT = 20


def sha256_of(value: Any) -> bytes:
    """The digest of a record's content given as JSON-able values."""
    return hashlib.sha256(json.dumps(value).encode()).digest()


@dataclass(slots=True)
class Record:
    key: str  # stable identity in the source (relative path, or row number)
    label: str | float
    columns: dict[str, Any]  # what is written to the dataset's Arrow table
    content_sha256: bytes  # of what the version digest covers besides key and label


@dataclass
class ProblemReport:
    """The first REPORT_LIMIT problems and a count of all: bounded however bad a source."""

    problems: list[Problem] = field(default_factory=list)
    count: int = 0

    def add(self, location: str, reason: str) -> None:
        self.count += 1
        if len(self.problems) < REPORT_LIMIT:
            self.problems.append(Problem(location=location, reason=reason))

    def count_more(self, count: int) -> None:
        """Problems found beyond the ones listed."""
        self.count += count

    def __len__(self) -> int:
        return self.count

    def summary(self, source: str) -> str:
        lines = [f"  {p.location}: {p.reason}" for p in self.problems]
        if self.count > len(self.problems):
            lines.append(f"  ... and {self.count - len(self.problems)} more")
        return f"{self.count} invalid record(s) in {source}:\n" + "\n".join(lines)

    def error(self, source: str) -> InvalidRecords:
        return InvalidRecords(
            self.summary(source)
            + "\nNothing was written. Fix these records, or pass --skip-invalid to keep only"
            " the valid ones.",
            details={"problems": [p.model_dump() for p in self.problems], "count": self.count},
        )
