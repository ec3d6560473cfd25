"""The machine a benchmark ran on: lscpu's model, CPU count and flags, printed and written with every result.

    from bench_machine import cpu, vector_units
    machine = cpu()
    print(f"CPU: {machine['model']}; {vector_units(machine)}")

The CPU of a machine kind varies between sessions (an AVX2-only EPYC one day, an AVX-512 Xeon the
next), and hashing, copying and bf16 speeds follow it: a number without its CPU cannot be compared.
"""

from __future__ import annotations

import os
import platform
import subprocess

__all__ = ["VECTOR_FLAGS", "cpu", "cpu_line", "vector_units"]

VECTOR_FLAGS = ("avx2", "avx512f", "amx_tile", "sha_ni")
"""The flags that move this repo's numbers: vector width (copies, BLAKE3, bf16), AMX (bf16 matmul), SHA-NI (sha256)."""


def cpu() -> dict[str, str]:
    """Return lscpu's model name, CPU count and flags: benchmark results on these machines depend on them."""
    try:
        text = subprocess.run(["lscpu"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"model": platform.processor() or platform.machine(), "cpus": "?", "flags": "unknown (no lscpu)"}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {
        "model": fields.get("Model name", "?").strip(),
        "cpus": fields.get("CPU(s)", "?").strip(),
        "flags": fields.get("Flags", "?").strip(),
    }


def vector_units(machine: dict[str, str]) -> str:
    """Return which of :data:`VECTOR_FLAGS` the CPU has, e.g. ``avx2 yes, avx512f no, amx_tile no, sha_ni yes``."""
    flags = set(machine["flags"].split())
    return ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in VECTOR_FLAGS)


def cpu_line(machine: dict[str, str]) -> str:
    """Return the line written under a result: the CPU model, its vector units, the load average now."""
    load_average = os.getloadavg()[0]
    return f"CPU: {machine['model']} ({vector_units(machine)}); load average (1 min) {load_average:.1f} at the end."
