"""Which precision a job trains in, decided on the host that runs it. `auto` picks bf16
where the hardware runs it natively (CUDA GPUs that support it; CPUs with AMX or
AVX512-BF16) and fp32 elsewhere. fp16 needs a CUDA GPU, for its GradScaler. An explicit
bf16 on a CPU without native support runs, emulated, and says how much slower it is."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from fermion.errors import InvalidInput

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
# Measured on an AVX2-only CPU (resnet18 on 8x8 digits, 2 threads): 1 sample/s in bf16
# against 17 in fp32.
EMULATED_BF16 = (
    "bf16 on this CPU is emulated (it has no AMX or AVX512-BF16) and many times slower than"
    " fp32 (resnet18: 1 sample/s against 17); use --precision auto or fp32"
)


class Precision(StrEnum):
    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU flag that gives native bf16 arithmetic, if any."""
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return None
    return next((flag for flag in NATIVE_BF16_FLAGS if flag in flags), None)


def check_precision(asked: Precision, gpus: int, cpu_flag: str | None = None) -> list[str]:
    """At submit: refuse what cannot run; warnings for what runs badly. `cpu_flag` is the
    native-bf16 flag of the CPU the job will most likely run on (the server's own, for
    the local executor)."""
    if asked is Precision.FP16 and gpus == 0:
        raise InvalidInput(
            "fp16 needs a CUDA GPU (its loss scaling is a GPU feature) and this job has none;"
            " use --precision bf16 (or fp32), or ask for a GPU with --gpu 1"
        )
    if asked is Precision.BF16 and gpus == 0 and cpu_flag is None:
        return [EMULATED_BF16]
    return []


def resolve_precision(
    asked: Precision, gpus: int, gpu_bf16: bool = True, cpu_flag: str | None = None
) -> tuple[Precision, str]:
    """Where the job runs: (precision, why) for a process with `gpus` CUDA devices
    (`gpu_bf16`: whether they support bf16) and the CPU whose native-bf16 flag is
    `cpu_flag`."""
    check_precision(asked, gpus)
    if asked is not Precision.AUTO:
        if asked is Precision.BF16 and gpus == 0 and cpu_flag is None:
            return asked, f"as asked; warning: {EMULATED_BF16}"
        return asked, "as asked"
    if gpus:
        if gpu_bf16:
            return Precision.BF16, "auto: this GPU runs bf16 natively"
        return Precision.FP32, "auto: this GPU has no bf16 support"
    if cpu_flag:
        return Precision.BF16, f"auto: this CPU runs bf16 natively ({cpu_flag})"
    return (
        Precision.FP32,
        "auto: this CPU has no native bf16 (no AMX/AVX512-BF16), so bf16 would be emulated"
        " and slower",
    )
