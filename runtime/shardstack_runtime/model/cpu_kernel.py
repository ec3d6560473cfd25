"""The bf16 small-batch matrix product of ``bf16_linear.cpp``, built for this torch on first use.

The kernel reads plain bf16 weights once per call and multiplies them by every row in fp32 (see the
source for why). It is built with torch's extension builder (a C++ compiler and ninja) into
``$SHARDSTACK_KERNEL_DIR`` (default ``~/.cache/shardstack/kernels``), in a folder named after the
source and the torch build, so a build is made once and never reused for other code; the runtime
image builds it when the image is built. Where it can't be had (no compiler, not x86-64, neither
AVX-512 nor AVX2) :func:`load` says why and the compute path does without it.

Usage::

    kernel = load()                       # None where it can't be had; see why()
    y = kernel.bf16_linear(x, weight, bias)

``python -m shardstack_runtime.model.cpu_kernel`` builds it ahead of time and prints where.
``$SHARDSTACK_KERNEL_ISA`` (``avx2``) makes it run with a narrower instruction set than the CPU's best.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

import torch

logger = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("bf16_linear.cpp")
DIR_ENV = "SHARDSTACK_KERNEL_DIR"
ISA_ENV = "SHARDSTACK_KERNEL_ISA"
"""Names a narrower instruction set than this CPU's best for the kernel to run with ("avx2" on an AVX-512 CPU):
to compare, or to keep AVX-512 off a node whose clocks drop under it."""
DEFAULT_DIR = Path("~/.cache/shardstack/kernels")
# OpenMP: at::parallel_for is inlined from torch's headers and runs on one thread without it.
COMPILE_FLAGS = ("-O3", "-fopenmp")
LINK_FLAGS = ("-fopenmp",)

_lock = threading.Lock()
_loaded: dict[str, ModuleType | None] = {}
_why_not: list[str] = []


def build_name() -> str:
    """The module's name: the source's and torch's fingerprint, so that a build matches both."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update(f"{torch.__version__} {sys.version_info[:2]} {sys.platform} {COMPILE_FLAGS} {LINK_FLAGS}".encode())
    return f"shardstack_bf16_linear_{digest.hexdigest()[:16]}"


def kernel_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or DEFAULT_DIR).expanduser()


def load() -> ModuleType | None:
    """The built kernel module, building it first if needed; None (once logged, see :func:`why`) where it can't run."""
    with _lock:
        if "module" not in _loaded:
            _loaded["module"] = _load()
        return _loaded["module"]


def why() -> str:
    """Why :func:`load` returned None ("" when it did not)."""
    return _why_not[-1] if _why_not else ""


def _load() -> ModuleType | None:
    module = _built()
    if module is None:
        return None
    if not module.instruction_set():
        return _without("this CPU has neither AVX-512 nor AVX2 with FMA")
    if wanted := os.environ.get(ISA_ENV):
        if wanted not in module.instruction_sets():
            return _without(f"{ISA_ENV}={wanted!r} is none of this CPU's: {', '.join(module.instruction_sets())}")
        module.use_instruction_set(wanted)
    return module


def _built() -> ModuleType | None:
    """The module, imported from an earlier build or built now; None (logged) where it can't be built."""
    if not _is_x86_64():
        return _without(f"it is written for x86-64 CPUs; this one is {os.uname().machine}")
    name = build_name()
    folder = kernel_dir() / name
    built = folder / f"{name}.so"
    try:
        return _import(name, built) if built.exists() else _build(name, folder)
    except (OSError, RuntimeError, ImportError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return _without(f"it could not be built in {folder}: {first_line}")


def _build(name: str, folder: Path) -> ModuleType:
    from torch.utils import cpp_extension  # imports setuptools: only when a build is needed

    folder.mkdir(parents=True, exist_ok=True)
    logger.info("building the bf16 CPU kernel in %s (once for this torch build; about half a minute)", folder)
    # torch's builder runs `ninja` from PATH; the ninja package's binary is there only in an activated venv.
    path = os.environ.get("PATH", "")
    try:
        import ninja

        os.environ["PATH"] = os.pathsep.join([ninja.BIN_DIR, path])
    except ImportError:
        pass
    try:
        module = cpp_extension.load(
            name=name,
            sources=[str(SOURCE)],
            build_directory=str(folder),
            extra_cflags=list(COMPILE_FLAGS),
            extra_ldflags=list(LINK_FLAGS),
            verbose=False,
        )
    finally:
        os.environ["PATH"] = path
    assert isinstance(module, ModuleType)  # a Python module: is_python_module is load()'s default
    return module


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a loadable extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_x86_64() -> bool:
    return os.uname().machine in ("x86_64", "AMD64")


def _without(reason: str) -> None:
    _why_not.append(reason)
    logger.info("the bf16 CPU kernel is not used: %s", reason)
    return None


def main() -> int:
    """Build the kernel ahead of time (the image does, where the CPU may not be the one that runs it).

    Exits 1 only where an x86-64 build failed; elsewhere the runtime runs without the kernel.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    module = _built()
    if module is None:
        print(f"not built: {why()}", file=sys.stderr)
        return 1 if _is_x86_64() else 0
    runs = module.instruction_set() or "neither AVX-512 nor AVX2 with FMA on this CPU: not used here"
    print(f"{kernel_dir() / build_name()} ({runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
