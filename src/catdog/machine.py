"""What the machine we run on is: CPU model, the vector instructions that change inference speed
(AVX2, AVX-512, VNNI make int8 up to three times faster between machines), cores. Used to key
speeds measured here and printed beside every benchmark figure."""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

# /proc/cpuinfo flag -> the name people know it by
SPEED_FLAGS = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
               "amx_int8": "AMX-INT8", "asimddp": "NEON dot product"}


@cache
def cpu_info() -> dict[str, object]:
    """{"model", "flags" (the SPEED_FLAGS present), "cpus", "platform"}; "unknown" parts off Linux."""
    model, flags = platform.processor() or "unknown", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model") and model in ("unknown", "", platform.machine()):
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags |= set(value.split())
    present = [name for flag, name in SPEED_FLAGS.items() if flag in flags]
    return {"model": model, "flags": present, "cpus": os.cpu_count() or 1, "platform": platform.platform()}


def describe() -> str:
    """One line, e.g. "AMD EPYC, 2 CPUs, AVX2 + FMA (no AVX-512, no VNNI)"."""
    info = cpu_info()
    flags = list(info["flags"])  # type: ignore[call-overload]
    missing = [name for name, wanted in (("AVX-512", "AVX-512"), ("VNNI", "VNNI")) if not any(wanted in f for f in flags)]
    return (f"{info['model']}, {info['cpus']} CPUs, {' + '.join(flags) or 'no AVX2'}"
            + (f" (no {', no '.join(missing)})" if missing else ""))
