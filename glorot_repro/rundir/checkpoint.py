"""Files of a run dir that must survive a kill at any moment.

* `write_atomic` replaces a file whole or not at all, so a kill never leaves a half-written
  `checkpoint.pt` or `summary.json` behind.
* A checkpoint carries the sha256 of its payload, and the one it replaces is kept as
  `checkpoint.prev.pt`: a file damaged anyway (a disk error, a copy cut short) is caught on load,
  and resuming falls back to the previous one.
* A file under a checkpoint's name that this project did not write (someone else's
  `checkpoint.pt`) is refused rather than resumed from or replaced.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Iterator

import torch

from glorot_repro.errors import RUN_DIR_HINT, ResumeError, RunDirError

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
# A checkpoint file is this prefix, the payload's sha256 in hex and a newline, then the payload
# (torch.save's bytes).
HEADER = b"glorot-repro checkpoint sha256="
DIGEST_HEX = 64
# What every checkpoint of ours holds (run.py), those written before they carried HEADER too.
KEYS = frozenset({"model", "stream", "rng", "progress", "config"})

log = logging.getLogger(__name__)


def temp_path(path: Path) -> Path:
    """Where `write_atomic` writes `path` before renaming it into place."""
    return path.with_name(path.name + ".tmp")


def write_atomic(path: Path, data: bytes, keep_previous: Path | None = None) -> None:
    """Replace `path` by `data` so that a kill at any moment leaves the old file or the new one.
    With `keep_previous`, the replaced file is renamed to it rather than deleted.

    Raises RunDirError if the disk refuses (full, read-only); the old file is then kept."""
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it visible
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
        fsync_path(path.parent)  # so the renames survive a power cut too
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise RunDirError(f"could not write {path} ({err.strerror or err}); its previous version "
                          f"is kept: {RUN_DIR_HINT}") from err


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a directory's entries, to disk (fsync through any descriptor
    flushes the file, not just what that descriptor wrote)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run_dir: Path, state: dict) -> Path:
    """Write `state` as the run dir's checkpoint, keeping the one it replaces as the previous."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    header = HEADER + hashlib.sha256(payload).hexdigest().encode() + b"\n"
    path = Path(run_dir) / CHECKPOINT
    write_atomic(path, header + payload, keep_previous=path.with_name(PREVIOUS))
    return path


class ForeignCheckpoint(ValueError):
    """An intact file under a checkpoint's name that this project did not write."""


def read_checkpoint(path: Path) -> dict:
    """One checkpoint file, verified against its sha256; raises if it is damaged, and
    ForeignCheckpoint if it is intact but not ours."""
    blob = path.read_bytes()
    if blob.startswith(HEADER):
        start = len(HEADER) + DIGEST_HEX + 1
        payload = blob[start:]
        if hashlib.sha256(payload).hexdigest().encode() != blob[len(HEADER):start - 1]:
            raise ValueError("its contents do not match their sha256")
    else:  # written before checkpoints carried a checksum; torch's zip format still fails if torn
        payload = blob
    # Our own file: it holds RNG states and plain Python values besides tensors.
    ckpt = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    if payload is blob and not (isinstance(ckpt, dict) and KEYS <= ckpt.keys()):
        raise ForeignCheckpoint("it loads, but holds none of a glorot-repro checkpoint's keys")
    return ckpt


def checkpoints(run_dir: Path, foreign_ok: bool = False) -> Iterator[dict]:
    """The run dir's intact checkpoints, newest first (checkpoint.pt, then checkpoint.prev.pt).

    A damaged one is skipped with a warning. Raises ResumeError if checkpoint files exist but
    none of them is intact: resuming from nothing would silently restart the run. A foreign one
    raises ResumeError too (the run would replace it), or with `foreign_ok` (train.force_resume)
    is skipped with a warning."""
    newest, previous = Path(run_dir) / CHECKPOINT, Path(run_dir) / PREVIOUS
    if previous.exists() and not newest.exists():
        log.warning("%s is missing (the run died while replacing it); using %s", newest, previous)
    damaged, intact = [], 0
    for path in (newest, previous):
        if not path.exists():
            continue
        try:
            ckpt = read_checkpoint(path)
        except ForeignCheckpoint as err:
            if not foreign_ok:
                raise ResumeError(f"{path} was not written by glorot-repro ({err}); pick another "
                                  f"hydra.run.dir, or pass train.force_resume=true to start a new "
                                  f"run there anyway (it replaces the file)") from None
            log.warning("%s was not written by glorot-repro (%s); starting a new run over it "
                        "(train.force_resume)", path, err)
            continue
        except Exception as err:  # a bad digest, a torn zip, a foreign pickle: all are damage
            reason = " ".join(str(err).split())  # one line, whatever the library says
            log.warning("checkpoint %s is damaged (%s); trying the previous one", path, reason)
            damaged.append(f"{path} ({reason})")
            continue
        intact += 1
        yield ckpt
    if damaged and not intact:
        raise ResumeError(f"no intact checkpoint in {run_dir}: {'; '.join(damaged)}. Delete them "
                          f"to start the run over, or pick another hydra.run.dir")


def load_checkpoint(run_dir: Path, foreign_ok: bool = False) -> dict | None:
    """The run dir's newest intact checkpoint, or None if it has none."""
    return next(checkpoints(run_dir, foreign_ok), None)
