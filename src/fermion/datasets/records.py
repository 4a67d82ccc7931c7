"""What a source reader yields: valid records and the problems it found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fermion.errors import InvalidRecords
from fermion.payloads import Problem

REPORT_LIMIT = 20


@dataclass(slots=True)
class Record:
    key: str  # stable identity in the source (relative path, or row number)
    label: str | float
    columns: dict[str, Any]  # what is written to the dataset's Arrow table
    content: bytes  # what the version digest covers besides key and label


@dataclass
class ProblemReport:
    problems: list[Problem] = field(default_factory=list)

    def add(self, location: str, reason: str) -> None:
        self.problems.append(Problem(location=location, reason=reason))

    def __len__(self) -> int:
        return len(self.problems)

    def summary(self, source: str) -> str:
        shown = self.problems[:REPORT_LIMIT]
        lines = [f"  {p.location}: {p.reason}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        return f"{len(self.problems)} invalid record(s) in {source}:\n" + "\n".join(lines)

    def error(self, source: str) -> InvalidRecords:
        return InvalidRecords(
            self.summary(source)
            + "\nNothing was written. Fix these records, or pass --skip-invalid to keep only"
            " the valid ones.",
            details={
                "problems": [p.model_dump() for p in self.problems[:REPORT_LIMIT]],
                "count": len(self.problems),
            },
        )
