"""What produced a run: its config (.hydra/), library versions and the git commit of this checkout."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from glorot_repro.rundir.checkpoint import write_atomic


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


def save_config(cfg: DictConfig, run_dir: Path, hydra_files: bool = False) -> None:
    """.hydra/config.yaml, and with `hydra_files` Hydra's hydra.yaml and overrides.yaml: what
    Hydra writes itself unless told not to (command/compose.py tells it not to, so a refused resume leaves
    the old run labelled as it was). A replica gets its own config there, so tools read a lone
    run's and a replica's alike."""
    files = {"config.yaml": cfg}
    if hydra_files:
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
        files |= {"hydra.yaml": OmegaConf.create({"hydra": hydra_cfg}),
                  "overrides.yaml": hydra_cfg.overrides.task}
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        write_atomic(run_dir / ".hydra" / name, OmegaConf.to_yaml(content).encode())
