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

from glorot_repro import kernels, tags
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
from glorot_repro.tblog import (EVENTS_GLOB, SUFFIX, close_writer, log_histograms, log_scalars,
                                open_writer, sync_events)

log = logging.getLogger(__name__)
SEED_STRIDE = 1000  # train.replicas.n_seeds: seed, seed + 1000, ...


@dataclass
class Progress:
    """Everything about a run's position that a checkpoint carries besides tensors."""
    update: int = 0
    best_valid_error: float = math.inf
    test_error_at_best_valid: float = math.nan
    best_update: int = -1
    last_valid_error: float = math.nan
    last_test_error: float = math.nan
    last_eval_update: int = -1  # the update of last_valid_error and last_test_error
    seconds: float = 0.0  # wall time spent in this run, summed over resumed segments
    checked: int = 0  # the last update at which the loss was seen finite


@torch.no_grad()
def error_percent(model: DeepMLP, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    wrong = sum(int((model(x[i:i + batch]).argmax(1) != y[i:i + batch]).sum())
                for i in range(0, len(x), batch))
    return 100.0 * wrong / len(x)


class TrainingWindows:
    """The online training error of a stack of runs (error/train, loss/train): each run's summed
    loss and wrong answers since its last evaluation, kept on the device and added to for the
    whole stack at once, so an update costs no host sync."""

    def __init__(self, runs: int, device: torch.device):
        self.sums = torch.zeros(runs, 2, dtype=torch.float64, device=device)  # loss sum, wrong
        self.examples = [0] * runs

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """One update of every run: loss (K,) their mean costs, logits (K, B, classes), y (K, B)."""
        batch = y.shape[1]
        self.sums[:, 0] += loss * batch
        self.sums[:, 1] += (logits.argmax(-1) != y).sum(dim=1)
        self.examples = [n + batch for n in self.examples]

    def finite(self) -> list[bool]:
        """Whether each run's summed loss is still finite (one host sync for the stack)."""
        return torch.isfinite(self.sums[:, 0]).tolist()

    def take(self, k: int) -> tuple[float, float, int]:
        """Run k's loss sum, wrong answers and examples since its last take; starts it anew."""
        (loss_sum, wrong), examples = self.sums[k].tolist(), self.examples[k]
        self.sums[k].zero_()
        self.examples[k] = 0
        return loss_sum, wrong, examples

    def state(self, k: int) -> dict:
        """Run k's window as its checkpoint keeps it."""
        return {"window": self.sums[k].cpu(), "window_n": self.examples[k]}

    def load(self, k: int, state: dict) -> None:
        self.sums[k].copy_(state["window"])
        self.examples[k] = state["window_n"]


class Run:
    def __init__(self, run_dir: Path, cfg: DictConfig, model: DeepMLP, stream: Stream,
                 windows: TrainingWindows, k: int):
        self.run_dir, self.cfg, self.model, self.stream = run_dir, cfg, model, stream
        self.windows, self.k = windows, k  # its online training error: windows' run k
        self.progress = Progress()
        self.resumed = False  # from a checkpoint, at progress.update
        self.status = "running"
        self.summary = None  # once finish() wrote it
        self.writer = None
        self.vouched: list[str] = []  # the event files the resumed checkpoint was written after
        self.numerics: str | None = None  # sgd.numeric_path of the step, set once it is built
        # Pre-training's updates come first on the step axis of the event files: supervised update
        # u is logged at step u + step_offset, so step x batch size is the examples seen (Fig. 11).
        self.step_offset = pretrain_updates(cfg)
        run_dir.mkdir(parents=True, exist_ok=True)

    def resume(self, update: int | None = None) -> bool:
        """Load the run dir's newest intact checkpoint (or the one at `update`), if any: rerunning
        a command continues where it stopped."""
        force = self.cfg.train.force_resume
        ckpt = next((c for c in checkpoints(self.run_dir, foreign_ok=force)
                     if update is None or c["progress"]["update"] == update), None)
        if ckpt is None:
            if update is None:
                self.check_foreign()
            return False
        self.check_config(ckpt["config"])
        self.check_numerics(ckpt.get("numerics"))  # None: written before checkpoints said
        try:
            self.model.load_state_dict(ckpt["model"])  # copies into the weights, views included
        except RuntimeError as err:  # reachable only through train.force_resume
            raise ResumeError(f"the checkpoint in {self.run_dir} does not fit this model: its "
                              f"weights have other shapes (keep model.depth, model.width and the "
                              f"dataset as they were)") from err
        self.stream.load_state_dict(ckpt["stream"])
        set_rng_state(ckpt["rng"])
        self.progress = Progress(**ckpt["progress"])
        self.windows.load(self.k, ckpt)
        self.vouched = ckpt["events"]
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

    def check_numerics(self, saved: str | None) -> None:
        """Refuse to continue a checkpoint computed on other products (the compiled kernel's
        other build, or torch's), which sum in another order, unless train.force_resume says so:
        the run would not end bit-identical to an uninterrupted one."""
        if saved is None or saved == self.numerics:
            return
        if not self.cfg.train.force_resume:
            raise ResumeError(
                f"the checkpoint in {self.run_dir} was computed on {saved}, this process runs "
                f"{self.numerics}: the resumed run would not be bit-identical to an uninterrupted "
                f"one. Rerun where the checkpoint's path loads ({kernels.DISABLE_VAR} and "
                f"{kernels.ISA_VAR} choose it), pick another hydra.run.dir, or pass "
                f"train.force_resume=true to continue it anyway")
        log.warning("resuming %s on %s, computed on %s until now (train.force_resume): the run is "
                    "no longer bit-identical to an uninterrupted one", self.run_dir,
                    self.numerics, saved)

    def check_foreign(self) -> None:
        """Refuse a run dir without a checkpoint of ours that holds event files or a summary
        someone else wrote, or a finished run of ours whose checkpoints are gone, unless
        train.force_resume says so: a fresh run would cut the event files and replace the
        summary. Ours carry SUFFIX; without a checkpoint they are a run killed before its first
        one, or stopped in pre-training (its summary says "interrupted"), which starts over. A
        summary is ours only next to them."""
        files = sorted(self.run_dir.glob(EVENTS_GLOB))
        foreign = [p.name for p in files if not p.name.endswith(SUFFIX)]
        finished = None
        if (self.run_dir / "summary.json").exists():
            if len(foreign) == len(files):
                foreign.append("summary.json")
            else:
                status = (read_summary(self.run_dir) or {}).get("status", "unreadable")
                finished = None if status == "interrupted" else status
        force = self.cfg.train.force_resume
        if foreign and not force:
            raise ResumeError(f"{self.run_dir} holds files glorot-repro did not write "
                              f"({', '.join(foreign)}) and no checkpoint of its own; pick another "
                              f"hydra.run.dir, or pass train.force_resume=true to start a run "
                              f"there anyway (their event files are kept, summary.json replaced)")
        if foreign:
            log.warning("starting a run in %s over files glorot-repro did not write (%s) "
                        "(train.force_resume): their event files are kept", self.run_dir,
                        ", ".join(foreign))
        elif finished and not force:
            raise ResumeError(f"{self.run_dir} holds a finished run (summary.json: {finished}) "
                              f"and no checkpoint to resume it from; pick another hydra.run.dir, "
                              f"or pass train.force_resume=true to start a new run there (its "
                              f"event files and summary.json are replaced)")
        elif finished:
            log.warning("starting a new run in %s over a finished one (summary.json: %s) "
                        "(train.force_resume): its event files and summary.json are replaced",
                        self.run_dir, finished)

    def open_log(self) -> None:
        # Cuts what a killed segment logged after its last checkpoint (all of it, if it had none):
        # the steps up to the checkpoint's update are on disk and are not logged again.
        last_saved = self.progress.update + self.step_offset if self.resumed else -1
        if self.resumed:
            self.check_vouched(last_saved)
        self.writer = open_writer(self.run_dir, last_saved, self.own_event_files(), self.vouched)

    def own_event_files(self) -> list[Path]:
        """The event files of the run dir this run wrote, and may cut: those named with SUFFIX
        or by its checkpoint (someone else's are left alone under train.force_resume)."""
        return [p for p in sorted(self.run_dir.glob(EVENTS_GLOB))
                if p.name.endswith(SUFFIX) or p.name in self.vouched]

    def check_vouched(self, last_saved: int) -> None:
        """Warn, one line per file, about event files the checkpoint was written after but that
        are gone: the steps they held are not logged again."""
        missing = [self.run_dir / name for name in self.vouched
                   if not (self.run_dir / name).exists()]
        for path in missing:
            log.warning("%s is missing behind the checkpoint at update %d in %s: its steps up to "
                        "%d are lost from the logs", path, self.progress.update, self.run_dir,
                        last_saved)

    def pretrain(self, stopped) -> bool:
        """Unsupervised pre-training (pretrain.name) before the first supervised update, logged
        at steps 1..step_offset. Only a fresh run pre-trains: a resumed one has its pre-trained
        weights in its checkpoint (train.py writes one at update 0 after pre-training).
        Returns False if `stopped()` (Ctrl-C, SIGTERM) ended it early."""
        if self.step_offset:
            log.info("pre-training %s: %s, %d updates", self.run_dir, self.cfg.pretrain.name,
                     self.step_offset)
        return pretrain(self.model, self.stream, self.cfg,
                        input_bounds(self.cfg.dataset.signed_pixels),
                        lambda step, scalars: log_scalars(self.writer, scalars, step), stopped)

    def evaluate(self, u: int, valid, test) -> dict[str, float]:
        """Validation and test error on the full sets, the online training error since the last
        evaluation, and best-validation bookkeeping. Returns what it logged."""
        p, batch = self.progress, self.cfg.train.eval_batch_size
        p.last_valid_error = error_percent(self.model, *valid, batch)
        p.last_test_error = error_percent(self.model, *test, batch)
        p.last_eval_update = u
        scalars = {tags.ERROR_VALID: p.last_valid_error, tags.ERROR_TEST: p.last_test_error}
        loss_sum, wrong, examples = self.windows.take(self.k)
        if examples:
            scalars |= {tags.ERROR_TRAIN: 100.0 * wrong / examples,
                        tags.LOSS_TRAIN: loss_sum / examples}
        log_scalars(self.writer, scalars, u + self.step_offset)
        if p.last_valid_error < p.best_valid_error:
            p.best_valid_error, p.test_error_at_best_valid = p.last_valid_error, p.last_test_error
            p.best_update = u
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
            write_layout(self.writer, layout(scalars.keys() | set(tags.ERRORS)), step)
        log_scalars(self.writer, scalars, step)
        log_histograms(self.writer, histograms, step)

    @property
    def running(self) -> bool:
        return self.status == "running"

    def check(self, u: int, finite: bool, seconds: float) -> None:
        """The divergence check at update u: with a loss no longer finite, the run ends here as if
        alone, whatever its stack does, keeping its last good checkpoint."""
        self.progress.update = u
        if finite:
            self.progress.checked = u
        else:
            self.status = "diverged"
            self.close_log()
            self.finish(seconds)

    def interrupt(self, u: int | None = None, seconds: float = 0.0) -> None:
        """Ctrl-C or SIGTERM: the run stops, checkpointed at update u (None: during pre-training,
        which keeps no checkpoint)."""
        self.status = "interrupted"
        if u is not None:
            self.checkpoint(u, seconds)

    def checkpoint(self, u: int, seconds: float) -> None:
        self.progress.update, self.progress.seconds = u, seconds
        sync_events(self.writer, self.run_dir)  # first: the checkpoint vouches for them
        save_checkpoint(self.run_dir, {
            # clone: the weights may be views into replica stacks, which torch.save would store whole
            "model": {k: v.clone() for k, v in self.model.state_dict().items()},
            "stream": self.stream.state_dict(), "rng": rng_state(),
            "progress": asdict(self.progress), **self.windows.state(self.k),
            "config": OmegaConf.to_container(self.cfg, resolve=True), "numerics": self.numerics,
            "events": [p.name for p in self.own_event_files()]})

    def close_log(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            close_writer(writer)

    def ended(self) -> dict | None:
        """The summary of a replica whose run ended by diverging, in an earlier segment: it
        keeps its last good checkpoint and summary, and its stack resumes without it."""
        summary = read_summary(self.run_dir)  # None: none yet, or not one to go by: it resumes
        if summary and summary.get("status") == "diverged":
            self.status, self.summary = "diverged", summary
        return self.summary

    def finish(self, seconds: float) -> dict:
        """Write summary.json (the keys docs/tags.md lists) and return it."""
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
        self.summary = summary
        return summary

    def report(self, summary: dict) -> None:
        """The few lines a user reads at the end of a run."""
        if self.status == "diverged":
            kept = load_checkpoint(self.run_dir, foreign_ok=True)
            where = (f"the last good checkpoint (update {kept['progress']['update']}) is kept in "
                     f"{self.run_dir / CHECKPOINT}" if kept else "no checkpoint had been written yet")
            log.error("diverged: the training loss became NaN/inf between updates %d and %d; %s",
                      self.progress.checked, self.progress.update, where)
        pretrained = (f" after {summary['pretrain_updates']} pre-training updates"
                      if summary["pretrain_updates"] else "")
        log.info("%s: %d updates%s (%d examples) in %.0f s, %.0f examples/s", self.status,
                 summary["updates"], pretrained, summary["examples"], summary["seconds"],
                 summary["examples_per_second"])
        # Only a completed run's last evaluation is at its final update.
        last = ("final test error" if self.status == "completed"
                else "test error at the last evaluation")
        log.info("best valid error %.2f%% (update %d), test error there %.2f%%; %s %.2f%% (update "
                 "%d)", summary["best_valid_error"], summary["best_update"],
                 summary["test_error_at_best_valid"], last, summary["final_test_error"],
                 self.progress.last_eval_update)


def read_summary(run_dir: Path) -> dict | None:
    """The run dir's summary.json, or None where there is none to go by (absent, unreadable)."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


# Replica planning: which runs one process trains together (train.replicas), and from where.

def replica_runs(cfg: DictConfig, run_dir: Path) -> list[tuple[DictConfig, Path]]:
    """One (config, run dir) per model. Without train.replicas: the run itself. With lists of
    inits, seeds and/or learning rates: their product, each in run_dir/[<init>_]seed<s>_lr<lr>
    with the config it would have run with alone."""
    replicas = cfg.train.replicas
    seeds = list(replicas.seeds) or [cfg.seed + SEED_STRIDE * i for i in range(replicas.n_seeds)]
    inits, lrs = list(replicas.inits), list(replicas.lrs)
    if not inits and not seeds and not lrs:
        return [(cfg, run_dir)]
    out = []
    for init in inits or [cfg.init.name]:
        for seed in seeds or [cfg.seed]:
            for lr in lrs or [cfg.train.lr]:
                alone = cfg.copy()
                alone.init.name, alone.seed, alone.train.lr = init, seed, lr
                alone.train.replicas.inits, alone.train.replicas.seeds = [], []
                alone.train.replicas.lrs = []
                name = f"seed{seed}_lr{lr:g}"
                out.append((alone, run_dir / (f"{init}_{name}" if inits else name)))
    return out


def save_config(cfg: DictConfig, run_dir: Path, hydra_files: bool = False) -> None:
    """.hydra/config.yaml, and with `hydra_files` Hydra's hydra.yaml and overrides.yaml: what
    Hydra writes itself unless told not to (config.py tells it not to, so a refused resume leaves
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


def common_start(runs: list[Run]) -> int:
    """The update all runs resume from, once each has loaded its newest checkpoint. Replicas are
    checkpointed one after another, so a kill between two leaves some a checkpoint ahead: those
    step back to their previous checkpoint, at the others' update. With none (all of a stack's
    replicas diverged in earlier segments): 0, where the loop finds nothing left to run."""
    if not runs:
        return 0
    start = min(r.progress.update for r in runs)
    for r in runs:
        if r.progress.update != start and not r.resume(update=start):
            raise ResumeError(
                f"the replicas' checkpoints stand at different updates "
                f"{sorted({q.progress.update for q in runs})} and {r.run_dir} has none at update "
                f"{start}; resume each run dir alone, or delete the checkpoints to start over")
    return start
