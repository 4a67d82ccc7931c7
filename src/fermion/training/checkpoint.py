"""Atomic checkpoints of the whole training state.

`last/` holds Accelerate's state (model, optimizer, scheduler, GradScaler, every
process's RNG) and ours (`trainer.json`: epoch, step, best metric, history). A new one is
written beside it and swapped in by renames, so a crash leaves the previous one whole.
`best/model.safetensors` holds the weights of the best epoch by the validation metric.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

TRAINER_STATE = "trainer.json"


def save_last(accelerator: Any, folder: Path, state: dict[str, Any]) -> None:
    tmp = folder / "last.tmp"
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))  # every process writes its own RNG state
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / TRAINER_STATE).write_text(json.dumps(state))
        last, old = folder / "last", folder / "last.old"
        if last.exists():
            os.replace(last, old)
        os.replace(tmp, last)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def find_last(folder: Path) -> Path | None:
    """The newest whole checkpoint (a crash between the two renames leaves `last.old`)."""
    for name in ("last", "last.old"):
        if (folder / name / TRAINER_STATE).exists():
            return folder / name
    return None


def load_last(accelerator: Any, path: Path) -> dict[str, Any]:
    accelerator.load_state(str(path))
    return json.loads((path / TRAINER_STATE).read_text())


def load_weights(model: Any, path: Path) -> None:
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path)))
