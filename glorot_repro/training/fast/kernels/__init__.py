"""The lean step's compiled CPU kernel (lean_kernels.cpp beside this file), built on first use.

load() compiles the C++ source with torch.utils.cpp_extension (g++ and ninja) for an instruction
set: "avx512" (-mavx512f: 512-bit registers, 32 of them, so larger tiles) where the CPU has
AVX-512, else "avx2" (-mavx2 -mfma); $GLOROT_KERNEL_ISA or load(isa) asks for one. The build goes
into a folder of torch's extension cache (~/.cache/torch_extensions, or $TORCH_EXTENSIONS_DIR) per
Python and torch version, instruction set and checkout: a minute or two once per machine, version
and checkout, then a fraction of a second per process. It returns the module, with

    nt(c, a, b, accumulate, subtract)   c (+)= +-a @ b^T   on stacks (K, M, J) and (K, N, J)
    nn(c, a, b, accumulate, subtract)   c (+)= +-a @ b     on stacks (K, M, J) and (K, J, N)

for float32 and float64 tensors on the CPU, or None where the kernel cannot be had: a CPU without
the instruction set (AVX2 and FMA at least), no compiler, a failed build, or GLOROT_NO_KERNEL=1 in
the environment. The two builds sum in different orders (8 or 16 lanes), so they agree to rounding,
not bit for bit; one machine always picks the same one. Then the
lean step runs its pure-PyTorch path (glorot_repro/training/fast/lean.py), and one line is logged, once per
process, saying why."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import re
import sys
import warnings
from pathlib import Path

log = logging.getLogger("glorot_repro.training.fast.kernels")

SOURCE = Path(__file__).with_name("lean_kernels.cpp")
NAME = "glorot_lean_kernels"
DISABLE_VAR = "GLOROT_NO_KERNEL"
ISA_VAR = "GLOROT_KERNEL_ISA"
# The instruction sets lean_kernels.cpp builds for (its Vec specializations), narrowest first,
# with the compiler flags and the CPU capability torch must report for each.
ISA_FLAGS = {"avx2": ["-O3", "-mavx2", "-mfma"], "avx512": ["-O3", "-mavx2", "-mfma", "-mavx512f"]}
ISA_CAPABILITIES = {"avx2": ("AVX2", "AVX512"), "avx512": ("AVX512",)}

_tried: dict[str, object] = {}  # instruction set -> module or None, once per process


def load(isa: str | None = None):
    """The compiled kernel module for `isa` (default: default_isa()), or None (with one logged
    line, the first time) where it cannot be had. The answer is kept for the rest of the process."""
    isa = isa or default_isa()
    if isa not in _tried:
        _tried[isa] = _try_load(isa)
    return _tried[isa]


def default_isa() -> str:
    """$GLOROT_KERNEL_ISA if set, else the widest instruction set this CPU runs (avx2 where it
    runs none: load() then says why it cannot)."""
    asked = os.environ.get(ISA_VAR, "")
    if asked:
        return asked
    usable = [isa for isa in ISA_FLAGS if _unsupported_cpu(isa) is None]
    return usable[-1] if usable else "avx2"


def _try_load(isa: str):
    fallback = "the lean step uses its PyTorch path"
    if os.environ.get(DISABLE_VAR, "") not in ("", "0"):
        log.info("compiled kernel disabled by %s=%s; %s", DISABLE_VAR, os.environ[DISABLE_VAR],
                 fallback)
        return None
    reason = _unsupported_cpu(isa)
    if reason:
        log.warning("compiled kernel unavailable: %s; %s", reason, fallback)
        return None
    try:
        return _build(isa)
    except Exception as error:  # no compiler, no ninja, a failed build: all mean the same here
        first = str(error).strip().splitlines()
        detail = f"{type(error).__name__}: {first[0] if first else ''}"
        log.warning("compiled kernel unavailable (build or load failed, %s); %s", detail, fallback)
        return None


def _unsupported_cpu(isa: str) -> str | None:
    import torch

    if isa not in ISA_FLAGS:
        return f"{ISA_VAR}={isa} is not one of {', '.join(ISA_FLAGS)}"
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"needs an x86-64 CPU, this is {platform.machine()}"
    # torch reports AVX2 only where the CPU has both AVX2 and FMA, AVX512 only with AVX-512's
    # F, BW, VL and DQ parts (the kernel needs F).
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ISA_CAPABILITIES[isa]:
        return f"{isa} needs {' or '.join(ISA_CAPABILITIES[isa])}, torch reports CPU capability {capability}"
    return None


def _build(isa: str):
    import torch

    # torch.utils.cpp_extension runs the `ninja` command; the ninja package from PyPI (a project
    # dependency) has it in its own folder, which is not on PATH outside an activated venv.
    try:
        import ninja

        bin_dir = getattr(ninja, "BIN_DIR", None)
        if bin_dir and bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    except ImportError:
        pass
    # Importing cpp_extension logs a warning about CUDA on a CPU-only machine; not ours to show.
    ext_log = logging.getLogger("torch.utils.cpp_extension")
    level = ext_log.level
    ext_log.setLevel(logging.ERROR)
    try:
        from torch.utils import cpp_extension
    finally:
        ext_log.setLevel(level)
    root = Path(os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root())
    # One folder per checkout too: its build file names the source's path, so two checkouts
    # sharing a folder would rebuild it in turn, each time the other had loaded it.
    where = hashlib.sha1(str(SOURCE.resolve()).encode()).hexdigest()[:8]
    name = f"{NAME}_{isa}"  # a module name per instruction set: both can load in one process
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}_torch{torch.__version__}_{where}"
    build_dir = root / f"{name}_{re.sub(r'[^A-Za-z0-9.]', '_', tag)}"
    build_dir.mkdir(parents=True, exist_ok=True)
    # A failure says why in its exception, which load() logs as its one line; torch's warnings on
    # the way (compiler versions and the like) would be more lines, so they are kept quiet.
    with _build_lock(build_dir), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not any(build_dir.glob(f"{name}*.so")):
            log.info("compiling the lean step's kernel (%s) into %s (once per machine and version, "
                     "a minute or two)", isa, build_dir)
        return cpp_extension.load(name, sources=[str(SOURCE)], extra_cflags=ISA_FLAGS[isa],
                                  build_directory=str(build_dir), verbose=False)


@contextlib.contextmanager
def _build_lock(build_dir: Path):
    """One process at a time builds or loads the kernel. In older torch releases the lock of
    cpp_extension is a file whose mere existence blocks, left behind by a process killed while
    building (tests kill training runs at random points), and every later load would wait on it
    forever; ours is an flock, which the OS releases with the process, so under it any torch lock
    file in the folder is stale and is removed."""
    try:
        import fcntl
    except ImportError:  # not POSIX: torch's lock alone
        yield
        return
    with open(build_dir / "glorot.flock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            (build_dir / "lock").unlink(missing_ok=True)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
