"""Atomic checkpoints: a crash mid-write never leaves a half-written `checkpoint.pt` behind."""
from __future__ import annotations

import os
from pathlib import Path

import torch

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(run_dir: Path, state: dict) -> Path:
    """Write to a temporary file, flush it to disk, then rename over the old one (atomic on POSIX)."""
    path = Path(run_dir) / CHECKPOINT
    tmp = path.with_suffix(".pt.tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(run_dir: Path) -> dict | None:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    # Our own file: it holds RNG states and plain Python values besides tensors.
    return torch.load(path, map_location="cpu", weights_only=False)
