"""TensorBoard event files of a run dir: the single source of truth for what was measured."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Collection

from tensorboard.summary.writer.event_file_writer import _AsyncWriterThread
from torch.utils.tensorboard import SummaryWriter

from glorot_repro.errors import RUN_DIR_HINT, RunDirError
from glorot_repro.rundir.checkpoint import fsync_path
from glorot_repro.rundir.events import EVENTS_GLOB, SUFFIX, repair
from glorot_repro.rundir.lock import LOCK


# What a sweep dir holds besides its jobs' run dirs: its lock, Hydra's record of the sweep, and
# submitit's job folder.
SWEEP_FILES = frozenset({LOCK, "multirun.yaml", ".submitit"})

log = logging.getLogger(__name__)


def logdir(run_dir: Path) -> Path:
    """What `tensorboard --logdir` loads to show a run. TensorBoard names a run by its path under
    --logdir, so the run dir's parent shows it by name beside its siblings, where that parent is
    a folder of runs of ours (runs/<dataset>/ or a sweep dir: each entry a run dir, which holds
    its lock file); elsewhere (a scratch folder) the run dir alone, so no one else's event files
    are loaded with it."""
    parent = Path(run_dir).parent
    for entry in parent.iterdir():
        if entry.name not in SWEEP_FILES and not (entry / LOCK).is_file():
            return Path(run_dir)
    return parent


def drop_events_after(run_dir: Path, step: int, files: list[Path] | None = None,
                      vouched: Collection[str] = ()) -> None:
    """Cut the run dir's event files back to the intact summaries logged at `step` or earlier,
    saying in one warning per file what damage (a flipped byte, a torn record) lost.

    A run killed after its last checkpoint logged steps that its resumed segment logs again.
    TensorBoard's purge_step hides them only from readers that honour it, so they are cut out of
    the files (glorot_repro/rundir/events.py); a damaged record is dropped there too, where TensorBoard's
    reader would stop and hide every intact record after it.

    `files`: the run's own event files (default: all of the dir's). Those named in `vouched` (by
    the checkpoint resumed from) are kept even when no summary is left in them, so that a later
    resume from the same checkpoint does not find them missing.

    Raises RunDirError naming the file if it cannot be cut (no permission, an immutable file): the
    file and the checkpoint are left as they were, for a rerun once it can be written."""
    for path in files if files is not None else sorted(Path(run_dir).glob(EVENTS_GLOB)):
        try:
            lost = repair(path, step, keep_empty=path.name in vouched)
        except OSError as err:
            raise RunDirError(f"could not cut the event file {path} back to step {step} "
                              f"({err.strerror or err}); {RUN_DIR_HINT}") from err
        if lost:
            log.warning("%s", lost)


def open_writer(run_dir: Path, last_saved: int, files: list[Path],
                vouched: Collection[str]) -> SummaryWriter:
    """A SummaryWriter for a run (re)starting after update `last_saved` (-1: from scratch), with
    what a killed segment logged after that update cut first (drop_events_after)."""
    drop_events_after(run_dir, last_saved, files, vouched)
    quiet_writer_threads()
    try:
        return SummaryWriter(str(run_dir), filename_suffix=SUFFIX)
    except OSError as err:
        raise event_write_error(run_dir, err) from err


def event_write_error(run_dir: Path, err: OSError) -> RunDirError:
    return RunDirError(f"could not write the event files in {run_dir} ({err.strerror or err}); "
                       f"{RUN_DIR_HINT}")


def quiet_writer_threads() -> None:
    """TensorBoard writes events from a thread, which dies on a failed write (a full disk) with a
    long traceback; the writer raises the same error in the main thread at its next call, where
    it ends the run with one line. So the thread's traceback is not printed."""
    previous = threading.excepthook
    if getattr(previous, "quiets_event_writers", False):
        return

    def hook(args):
        if not (isinstance(args.thread, _AsyncWriterThread) and issubclass(args.exc_type, OSError)):
            previous(args)

    hook.quiets_event_writers = True
    threading.excepthook = hook


def sync_events(writer: SummaryWriter, run_dir: Path) -> None:
    """Put every event logged so far on disk. Called before each checkpoint: a checkpoint at
    update u promises the events up to u, which a resumed run does not log again."""
    try:
        writer.flush()
        for path in Path(run_dir).glob(EVENTS_GLOB):
            fsync_path(path)
    except OSError as err:
        raise event_write_error(run_dir, err) from err


def log_scalars(writer: SummaryWriter, scalars: dict[str, float], step: int) -> None:
    try:
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, step)
    except OSError as err:
        raise event_write_error(Path(writer.get_logdir()), err) from err


def log_histograms(writer: SummaryWriter, histograms: dict, step: int) -> None:
    """Histograms binned on the device (stats.histogram), written as TensorBoard's raw form.
    TensorBoard draws a histogram from its min to its max: both are the fixed range's ends (the
    values beyond it sit in the end bins), so every histogram of a quantity shares one axis."""
    try:
        for tag, h in histograms.items():
            writer.add_histogram_raw(tag, min=h.edges[0], max=h.edges[-1], num=h.num, sum=h.sum,
                                     sum_squares=h.sum_squares, bucket_limits=h.edges[1:],
                                     bucket_counts=h.counts, global_step=step)
    except OSError as err:
        raise event_write_error(Path(writer.get_logdir()), err) from err


def close_writer(writer: SummaryWriter) -> None:
    try:
        writer.close()
    except OSError as err:
        raise event_write_error(Path(writer.get_logdir()), err) from err
