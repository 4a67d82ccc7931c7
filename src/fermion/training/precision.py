"""Which precision a job trains in. `auto` picks bf16 where the hardware runs it natively
(CUDA GPUs; CPUs with AMX or AVX512-BF16) and fp32 elsewhere: emulated bf16 is slower
than fp32. fp16 needs a GPU, for its GradScaler."""

from __future__ import annotations

from pathlib import Path

from fermion.errors import InvalidInput

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU flag that gives native bf16 arithmetic, if any."""
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return None
    return next((flag for flag in NATIVE_BF16_FLAGS if flag in flags), None)


def resolve_precision(asked: str, gpus: int) -> tuple[str, str]:
    """(precision, why) for a job with `gpus` GPUs."""
    if asked == "fp16" and gpus == 0:
        raise InvalidInput(
            "fp16 needs a CUDA GPU (its loss scaling is a GPU feature) and this job has none;"
            " use --precision bf16 (or fp32), or ask for a GPU with --gpu 1"
        )
    if asked != "auto":
        return asked, "as asked"
    if gpus:
        return "bf16", "auto: CUDA GPUs run bf16 natively"
    flag = cpu_has_native_bf16()
    if flag:
        return "bf16", f"auto: this CPU runs bf16 natively ({flag})"
    return (
        "fp32",
        "auto: this CPU has no native bf16 (no AMX/AVX512-BF16), so bf16 would be emulated and slower",
    )
