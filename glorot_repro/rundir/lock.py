"""One process per run dir: an advisory lock on a file in it, taken before anything there is read
or written.

`flock` is released by the kernel when its holder dies, however it dies, so the lock a killed run
leaves behind never blocks the rerun that resumes it. The lock file holds the holder's pid, for
the message that refuses a second process."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from glorot_repro.errors import RunDirError

LOCK = ".glorot_repro.rundir.lock"

# Run dirs this process holds: resolved path -> (lock file descriptor, nesting depth). The Hydra
# callback locks a run dir before Hydra writes into it and train() locks it again; a second
# flock from the same process on a new descriptor would refuse it, so nested takes are counted.
_held: dict[Path, list[int]] = {}


def acquire(run_dir: str | Path) -> None:
    """Lock `run_dir` for this process (again, if it holds it already).

    Raises RunDirError naming the dir and the holder's pid if another process holds it."""
    key = Path(run_dir).resolve()
    if key in _held:
        _held[key][1] += 1
        return
    key.mkdir(parents=True, exist_ok=True)
    fd = os.open(key / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunDirError(f"{key} is in use by another training process (pid {holder}); wait for "
                          f"it to end, or pick another hydra.run.dir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[key] = [fd, 1]


def release(run_dir: str | Path) -> None:
    key = Path(run_dir).resolve()
    held = _held[key]
    held[1] -= 1
    if held[1] == 0:
        # The file stays: unlinking it would let a process that opened it just before lock an
        # orphaned inode while a third one locks a new file of the same name.
        os.close(held[0])
        del _held[key]


@contextmanager
def locked(run_dir: str | Path) -> Iterator[None]:
    acquire(run_dir)
    try:
        yield
    finally:
        release(run_dir)
