"""Where a job's files live. One folder per job, kept across attempts:

    code/           the packed working directory, the command's cwd
    checkpoints/    fm.checkpoint_dir(): kept across attempts, so a retry can resume
    artifacts/      fm.save_artifact()
    tensorboard/    fm.log() event files
    logs/attempt-N.log
    attempts/N/     the executor's state for attempt N

On a local artifact store the folder is inside it (artifacts/jobs/ID); otherwise it is
under FERMION_HOME and copied to the store when an attempt ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobFiles:
    root: Path

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def log(self, attempt: int) -> Path:
        return self.root / "logs" / f"attempt-{attempt}.log"

    def attempt_state(self, attempt: int) -> Path:
        return self.root / "attempts" / str(attempt)

    def create(self) -> JobFiles:
        for folder in (self.code, self.checkpoints, self.artifacts, self.tensorboard):
            folder.mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(exist_ok=True)
        return self
