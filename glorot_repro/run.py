"""One model's run: its run dir, training stream, event file, best-validation bookkeeping,
checkpoint and summary. Training drives one Run, or K of them together (replicas), and each
writes its run dir exactly as a lone run would."""
from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from glorot_repro.checkpoint import (CHECKPOINT, checkpoints, load_checkpoint, save_checkpoint,
                                     write_atomic)
from glorot_repro.config import config_changes
from glorot_repro.dashboards import layout, write_layout
from glorot_repro.data import Stream
from glorot_repro.data.streams import input_bounds
from glorot_repro.errors import ResumeError
from glorot_repro.hooks import capture
from glorot_repro.losses import cost
from glorot_repro.model import DeepMLP
from glorot_repro.pretrain import pretrain, pretrain_updates
from glorot_repro.probes import layer_internals, run_probes
from glorot_repro.provenance import git_commit, versions
from glorot_repro.rng import rng_state, set_rng_state
from glorot_repro.tblog import log_histograms, log_scalars, open_writer, sync_events

log = logging.getLogger("glorot_repro.train")
ERROR_TAGS = ("error/train", "error/valid", "error/test")


@dataclass
class Progress:
    """Everything about a run's position that a checkpoint carries besides tensors."""
    update: int = 0
    best_valid_error: float = math.inf
    test_error_at_best_valid: float = math.nan
    best_update: int = -1
    last_valid_error: float = math.nan
    last_test_error: float = math.nan
    seconds: float = 0.0  # wall time spent in this run, summed over resumed segments
    checked: int = 0  # the last update at which the loss was seen finite


@torch.no_grad()
def error_percent(model: DeepMLP, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    wrong = sum(int((model(x[i:i + batch]).argmax(1) != y[i:i + batch]).sum())
                for i in range(0, len(x), batch))
    return 100.0 * wrong / len(x)


class Run:
    def __init__(self, run_dir: Path, cfg: DictConfig, model: DeepMLP, stream: Stream,
                 window: torch.Tensor):
        self.run_dir, self.cfg, self.model, self.stream = run_dir, cfg, model, stream
        self.window = window  # on the device: summed loss and wrong answers since the last eval
        self.window_n = 0  # examples in the window
        self.progress = Progress()
        self.resumed = False  # from a checkpoint, at progress.update
        self.status = "running"
        self.writer = None
        # Pre-training's updates come first on the step axis of the event files: supervised update
        # u is logged at step u + step_offset, so step x batch size is the examples seen (Fig. 11).
        self.step_offset = pretrain_updates(cfg)
        run_dir.mkdir(parents=True, exist_ok=True)

    def resume(self, update: int | None = None) -> bool:
        """Load the run dir's newest intact checkpoint (or the one at `update`), if any: rerunning
        a command continues where it stopped."""
        ckpt = next((c for c in checkpoints(self.run_dir)
                     if update is None or c["progress"]["update"] == update), None)
        if ckpt is None:
            return False
        self.check_config(ckpt["config"])
        try:
            self.model.load_state_dict(ckpt["model"])  # copies into the weights, views included
        except RuntimeError as err:  # reachable only through train.force_resume
            raise ResumeError(f"the checkpoint in {self.run_dir} does not fit this model: its "
                              f"weights have other shapes (keep model.depth, model.width and the "
                              f"dataset as they were)") from err
        self.stream.load_state_dict(ckpt["stream"])
        set_rng_state(ckpt["rng"])
        self.progress = Progress(**ckpt["progress"])
        self.window.copy_(ckpt["window"])
        self.window_n = ckpt["window_n"]
        self.resumed = True
        log.info("resuming %s from update %d", self.run_dir, self.progress.update)
        return True

    def check_config(self, saved: dict) -> None:
        """Refuse to continue a checkpoint under a config that computes something else, unless
        train.force_resume says so."""
        changes = config_changes(saved, OmegaConf.to_container(self.cfg, resolve=True))
        if not changes:
            return
        if not self.cfg.train.force_resume:
            raise ResumeError(
                f"the checkpoint in {self.run_dir} was written with another config: "
                f"{'; '.join(changes)}. Rerun with the checkpoint's values, pick another "
                f"hydra.run.dir, or pass train.force_resume=true to continue it with the new ones")
        log.warning("resuming %s with a changed config (train.force_resume): %s", self.run_dir,
                    "; ".join(changes))

    def open_log(self) -> None:
        # Cuts what a killed segment logged after its last checkpoint (all of it, if it had none):
        # the steps up to the checkpoint's update are on disk and are not logged again.
        last_saved = self.progress.update + self.step_offset if self.resumed else -1
        self.writer = open_writer(self.run_dir, last_saved)

    def pretrain(self) -> None:
        """Unsupervised pre-training (pretrain.name) before the first supervised update, logged
        at steps 1..step_offset. Only a fresh run pre-trains: a resumed one has its pre-trained
        weights in its checkpoint (train.py writes one at update 0 after pre-training)."""
        if self.step_offset:
            log.info("pre-training %s: %s, %d updates", self.run_dir, self.cfg.pretrain.name,
                     self.step_offset)
        pretrain(self.model, self.stream, self.cfg, input_bounds(self.cfg.dataset.signed_pixels),
                 lambda step, scalars: log_scalars(self.writer, scalars, step))

    def evaluate(self, u: int, valid, test) -> dict[str, float]:
        """Validation and test error on the full sets, the online training error since the last
        evaluation, and best-validation bookkeeping. Returns what it logged."""
        p, batch = self.progress, self.cfg.train.eval_batch_size
        p.last_valid_error = error_percent(self.model, *valid, batch)
        p.last_test_error = error_percent(self.model, *test, batch)
        scalars = {"error/valid": p.last_valid_error, "error/test": p.last_test_error}
        if self.window_n:
            loss_sum, wrong = self.window.tolist()
            scalars |= {"error/train": 100.0 * wrong / self.window_n,
                        "loss/train": loss_sum / self.window_n}
        log_scalars(self.writer, scalars, u + self.step_offset)
        if p.last_valid_error < p.best_valid_error:
            p.best_valid_error, p.test_error_at_best_valid = p.last_valid_error, p.last_test_error
            p.best_update = u
        self.window.zero_()
        self.window_n = 0
        return scalars

    def probe(self, u: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """The probe set's internals: through hooks under train.step=autograd (hooks.capture, as
        watch reads any model), from DeepMLP's forward under the lean step."""
        loss = self.cfg.train.loss
        if self.cfg.train.step == "autograd":
            internals = capture(self.model, x, y, lambda logits, t: cost(logits, t, loss))
        else:
            internals = layer_internals(self.model, x, y, loss)
        scalars, histograms = run_probes(self.model, internals, u, self.cfg)
        step = u + self.step_offset
        if u == 0:  # the dashboard, once: update 0 logs every statistic the run has
            write_layout(self.writer, layout(scalars.keys() | set(ERROR_TAGS)), step)
        log_scalars(self.writer, scalars, step)
        log_histograms(self.writer, histograms, step)

    def checkpoint(self, seconds: float) -> None:
        self.progress.seconds = seconds
        sync_events(self.writer, self.run_dir)  # first: the checkpoint vouches for them
        save_checkpoint(self.run_dir, {
            # clone: the weights may be views into replica stacks, which torch.save would store whole
            "model": {k: v.clone() for k, v in self.model.state_dict().items()},
            "stream": self.stream.state_dict(), "rng": rng_state(),
            "progress": asdict(self.progress), "window": self.window.cpu(),
            "window_n": self.window_n, "config": OmegaConf.to_container(self.cfg, resolve=True)})

    def close_log(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def finish(self, seconds: float) -> dict:
        """Write summary.json (design.md's keys) and return it."""
        if self.status == "running":
            self.status = "completed"
        p = self.progress
        p.seconds = seconds
        examples = (self.step_offset + p.update) * self.cfg.train.batch_size  # pre-training's too
        summary = {
            "status": self.status,
            "updates": p.update,
            "pretrain_updates": self.step_offset,
            "examples": examples,
            "best_valid_error": p.best_valid_error,
            "test_error_at_best_valid": p.test_error_at_best_valid,
            "best_update": p.best_update,
            "final_valid_error": p.last_valid_error,
            "final_test_error": p.last_test_error,
            "seconds": round(seconds, 3),
            "examples_per_second": round(examples / seconds, 1) if seconds else 0.0,
            "versions": versions(),
            "git": git_commit(),
        }
        write_atomic(self.run_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
        self.report(summary)
        return summary

    def report(self, summary: dict) -> None:
        """The few lines a user reads at the end of a run."""
        if self.status == "diverged":
            kept = load_checkpoint(self.run_dir)
            where = (f"the last good checkpoint (update {kept['progress']['update']}) is kept in "
                     f"{self.run_dir / CHECKPOINT}" if kept else "no checkpoint had been written yet")
            log.error("diverged: the training loss became NaN/inf between updates %d and %d; %s",
                      self.progress.checked, self.progress.update, where)
        pretrained = (f" after {summary['pretrain_updates']} pre-training updates"
                      if summary["pretrain_updates"] else "")
        log.info("%s: %d updates%s (%d examples) in %.0f s, %.0f examples/s", self.status,
                 summary["updates"], pretrained, summary["examples"], summary["seconds"],
                 summary["examples_per_second"])
        log.info("best valid error %.2f%% (update %d), test error there %.2f%%, final test error "
                 "%.2f%%", summary["best_valid_error"], summary["best_update"],
                 summary["test_error_at_best_valid"], summary["final_test_error"])
