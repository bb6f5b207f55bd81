"""The end of a run: its summary.json (the keys docs/tags.md lists) and the few lines a user
reads."""
from __future__ import annotations

import logging
from pathlib import Path

from glorot_repro.rundir.checkpoint import CHECKPOINT, load_checkpoint
from glorot_repro.rundir.provenance import git_commit, versions
from glorot_repro.rundir.summary import write_summary
from glorot_repro.training.progress import Progress

log = logging.getLogger(__name__)


def summarize(run_dir: Path, status: str, p: Progress, pretrain_updates: int,
              batch_size: int) -> dict:
    """Write the run's summary.json and return it."""
    examples = (pretrain_updates + p.update) * batch_size  # pre-training's too
    summary = {
        "status": status,
        "updates": p.update,
        "pretrain_updates": pretrain_updates,
        "examples": examples,
        "best_valid_error": p.best_valid_error,
        "test_error_at_best_valid": p.test_error_at_best_valid,
        "best_update": p.best_update,
        "final_valid_error": p.last_valid_error,
        "final_test_error": p.last_test_error,
        "seconds": round(p.seconds, 3),
        "examples_per_second": round(examples / p.seconds, 1) if p.seconds else 0.0,
        "versions": versions(),
        "git": git_commit(),
    }
    write_summary(run_dir, summary)
    return summary


def report(run_dir: Path, summary: dict, p: Progress) -> None:
    """The few lines a user reads at the end of a run."""
    status = summary["status"]
    if status == "diverged":
        kept = load_checkpoint(run_dir, foreign_ok=True)
        where = (f"the last good checkpoint (update {kept['progress']['update']}) is kept in "
                 f"{run_dir / CHECKPOINT}" if kept else "no checkpoint had been written yet")
        log.error("diverged: the training loss became NaN/inf between updates %d and %d; %s",
                  p.checked, p.update, where)
    pretrained = (f" after {summary['pretrain_updates']} pre-training updates"
                  if summary["pretrain_updates"] else "")
    log.info("%s: %d updates%s (%d examples) in %.0f s, %.0f examples/s", status,
             summary["updates"], pretrained, summary["examples"], summary["seconds"],
             summary["examples_per_second"])
    # Only a completed run's last evaluation is at its final update.
    last = "final test error" if status == "completed" else "test error at the last evaluation"
    log.info("best valid error %.2f%% (update %d), test error there %.2f%%; %s %.2f%% (update "
             "%d)", summary["best_valid_error"], summary["best_update"],
             summary["test_error_at_best_valid"], last, summary["final_test_error"],
             p.last_eval_update)
