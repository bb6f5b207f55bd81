"""What produced a run: library versions and the git commit of this checkout."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("glorot-repro", "torch", "torchvision", "hydra-core", "numpy", "tensorboard"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def git_commit() -> str:
    """The commit of the package's checkout, with '-dirty' for uncommitted changes; 'unknown' outside git."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")
