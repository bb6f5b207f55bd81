"""Whether a run dir may be resumed, or started over, by this config: the checks a run makes
before it touches a run dir that holds anything. Each refusal is one line that says why and what
to do; train.force_resume turns a refusal into a warning."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from glorot_repro.errors import ResumeError
from glorot_repro.rundir.events import EVENTS_GLOB, SUFFIX
from glorot_repro.rundir.summary import SUMMARY, read_summary

log = logging.getLogger(__name__)

# Keys a resumed run may change without train.force_resume: they extend the run or change how it
# runs, not what it computes. `device` may change because the checkpoint holds CPU tensors;
# a Shapeset stream still refuses another device (its RNG differs there; see data/streams.py).
RESUMABLE_CHANGES = frozenset({
    "train.updates", "train.checkpoint_every", "train.check_every", "train.eval_batch_size",
    "train.force_resume", "train.defer", "train.cuda_graphs", "log.progress", "dataset.root",
    "dataset.download", "device"})


def config_changes(saved: dict, now: dict) -> list[str]:
    """'key: value (checkpoint) vs value (now)' for each key outside RESUMABLE_CHANGES whose value
    differs between a checkpoint's config and the current one (both plain nested dicts)."""
    before, after = _flatten(saved), _flatten(now)
    absent = "<absent>"
    return [f"{key}: {before.get(key, absent)} (checkpoint) vs {after.get(key, absent)} (now)"
            for key in sorted(before.keys() | after.keys())
            if key not in RESUMABLE_CHANGES and before.get(key, absent) != after.get(key, absent)]


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{name}.")
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def check_config(run_dir: Path, saved: dict, now: dict, force: bool) -> None:
    """Refuse to continue a checkpoint under a config that computes something else (both configs
    as plain nested dicts), unless `force` (train.force_resume)."""
    changes = config_changes(saved, now)
    if not changes:
        return
    if not force:
        raise ResumeError(
            f"the checkpoint in {run_dir} was written with another config: "
            f"{'; '.join(changes)}. Rerun with the checkpoint's values, pick another "
            f"hydra.run.dir, or pass train.force_resume=true to continue it with the new ones")
    log.warning("resuming %s with a changed config (train.force_resume): %s", run_dir,
                "; ".join(changes))


def check_numerics(run_dir: Path, saved: str | None, now: str, choose: str, force: bool) -> None:
    """Refuse to continue a checkpoint computed on other products than `now` (the step's numeric
    path: the compiled kernel's other build, or torch's), which sum in another order, unless
    `force`: the run would not end bit-identical to an uninterrupted one. `choose` says what
    picks the path. None saved: written before checkpoints said."""
    if saved is None or saved == now:
        return
    if not force:
        raise ResumeError(
            f"the checkpoint in {run_dir} was computed on {saved}, this process runs "
            f"{now}: the resumed run would not be bit-identical to an uninterrupted "
            f"one. Rerun where the checkpoint's path loads ({choose}), pick another "
            f"hydra.run.dir, or pass train.force_resume=true to continue it anyway")
    log.warning("resuming %s on %s, computed on %s until now (train.force_resume): the run is "
                "no longer bit-identical to an uninterrupted one", run_dir, now, saved)


def check_foreign(run_dir: Path, force: bool) -> None:
    """Refuse a run dir without a checkpoint of ours that holds event files or a summary
    someone else wrote, or a finished run of ours whose checkpoints are gone, unless `force`
    says so: a fresh run would cut the event files and replace the summary. Ours carry SUFFIX;
    without a checkpoint they are a run killed before its first one, or stopped in pre-training
    (its summary says "interrupted"), which starts over. A summary is ours only next to them."""
    files = sorted(run_dir.glob(EVENTS_GLOB))
    foreign = [p.name for p in files if not p.name.endswith(SUFFIX)]
    finished = None
    if (run_dir / SUMMARY).exists():
        if len(foreign) == len(files):
            foreign.append(SUMMARY)
        else:
            status = (read_summary(run_dir) or {}).get("status", "unreadable")
            finished = None if status == "interrupted" else status
    if foreign and not force:
        raise ResumeError(f"{run_dir} holds files glorot-repro did not write "
                          f"({', '.join(foreign)}) and no checkpoint of its own; pick another "
                          f"hydra.run.dir, or pass train.force_resume=true to start a run "
                          f"there anyway (their event files are kept, summary.json replaced)")
    if foreign:
        log.warning("starting a run in %s over files glorot-repro did not write (%s) "
                    "(train.force_resume): their event files are kept", run_dir,
                    ", ".join(foreign))
    elif finished and not force:
        raise ResumeError(f"{run_dir} holds a finished run (summary.json: {finished}) "
                          f"and no checkpoint to resume it from; pick another hydra.run.dir, "
                          f"or pass train.force_resume=true to start a new run there (its "
                          f"event files and summary.json are replaced)")
    elif finished:
        log.warning("starting a new run in %s over a finished one (summary.json: %s) "
                    "(train.force_resume): its event files and summary.json are replaced",
                    run_dir, finished)


def own_event_files(run_dir: Path, vouched: list[str]) -> list[Path]:
    """The event files of the run dir that its run wrote, and may cut: those named with SUFFIX
    or by its checkpoint (`vouched`; someone else's are left alone under train.force_resume)."""
    return [p for p in sorted(run_dir.glob(EVENTS_GLOB))
            if p.name.endswith(SUFFIX) or p.name in vouched]


def check_vouched(run_dir: Path, vouched: list[str], update: int, last_saved: int) -> None:
    """Warn, one line per file, about event files the checkpoint at `update` was written after
    but that are gone: the steps they held (up to `last_saved`) are not logged again."""
    for path in [run_dir / name for name in vouched if not (run_dir / name).exists()]:
        log.warning("%s is missing behind the checkpoint at update %d in %s: its steps up to "
                    "%d are lost from the logs", path, update, run_dir, last_saved)
