"""One model's run: what its state is. Its config, net, training stream and position (Progress),
its status, and the checkpoint and summary that hold them. Measuring is its Recorder's
(measure/recorder.py); whether its run dir may be resumed is the guard's (rundir/guard.py).
Training drives one Run, or K of them together (replicas), each writing its run dir exactly as
a lone run would."""
from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from glorot_repro.data import Stream
from glorot_repro.data.streams import input_bounds
from glorot_repro.errors import ResumeError
from glorot_repro.measure import tags
from glorot_repro.measure.recorder import Recorder, Subject
from glorot_repro.measure.windows import TrainingWindows
from glorot_repro.nets.model import DeepMLP
from glorot_repro.rng import rng_state, set_rng_state
from glorot_repro.rundir.checkpoint import checkpoints, save_checkpoint
from glorot_repro.rundir.guard import check_config, check_foreign, check_numerics
from glorot_repro.rundir.summary import read_summary
from glorot_repro.training.pretrain import pretrain, pretrain_updates
from glorot_repro.training.progress import Progress
from glorot_repro.training.step import NUMERICS_CHOICE
from glorot_repro.training.summary import report, summarize

log = logging.getLogger(__name__)


class Run:
    def __init__(self, run_dir: Path, cfg: DictConfig, model: DeepMLP, stream: Stream,
                 windows: TrainingWindows, k: int):
        self.run_dir, self.cfg, self.model, self.stream = run_dir, cfg, model, stream
        self.windows, self.k = windows, k  # its online training error: windows' run k
        self.progress = Progress()
        self.resumed = False  # from a checkpoint, at progress.update
        self.status = "running"
        self.summary = None  # once finish() wrote it
        self.vouched: list[str] = []  # the event files the resumed checkpoint was written after
        self.numerics: str | None = None  # step.numeric_path of the step, set once it is built
        self.step_offset = pretrain_updates(cfg.pretrain, cfg.model.depth)  # on the step axis
        tc = cfg.train
        self.recorder = Recorder(run_dir, cfg.log, Subject(
            cfg.activation.name, cfg.init.name, tc.loss, tc.batch_size, tc.eval_batch_size,
            hooks=tc.step == "autograd"), self.step_offset)
        run_dir.mkdir(parents=True, exist_ok=True)

    def resume(self, update: int | None = None) -> bool:
        """Load the run dir's newest intact checkpoint (or the one at `update`), if any: rerunning
        a command continues where it stopped."""
        force = self.cfg.train.force_resume
        ckpt = next((c for c in checkpoints(self.run_dir, foreign_ok=force)
                     if update is None or c["progress"]["update"] == update), None)
        if ckpt is None:
            if update is None:
                check_foreign(self.run_dir, force)
            return False
        check_config(self.run_dir, ckpt["config"], OmegaConf.to_container(self.cfg, resolve=True),
                     force)
        check_numerics(self.run_dir, ckpt.get("numerics"), self.numerics, NUMERICS_CHOICE, force)
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

    def open_log(self) -> None:
        self.recorder.open(self.progress.update if self.resumed else None, self.vouched)

    def pretrain(self, stopped) -> bool:
        """Unsupervised pre-training (pretrain.name) before the first supervised update, logged
        at steps 1..step_offset. Only a fresh run pre-trains: a resumed one has its pre-trained
        weights in its checkpoint (train.py writes one at update 0 after pre-training).
        Returns False if `stopped()` (Ctrl-C, SIGTERM) ended it early."""
        c = self.cfg
        if self.step_offset:
            log.info("pre-training %s: %s, %d updates", self.run_dir, c.pretrain.name,
                     self.step_offset)
        return pretrain(self.model, self.stream, c.pretrain, c.train.batch_size, c.seed,
                        input_bounds(c.dataset.signed_pixels), self.recorder.write, stopped)

    def evaluate(self, u: int, valid, test) -> dict[str, float]:
        """The recorder's evaluation at update u, kept as the run's position. Returns what it
        logged."""
        scalars = self.recorder.evaluate(u, self.model, valid, test, self.windows.take(self.k))
        self.progress.evaluated(u, scalars[tags.ERROR_VALID], scalars[tags.ERROR_TEST])
        return scalars

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
            self.recorder.close()
            self.finish(seconds)

    def interrupt(self, u: int | None = None, seconds: float = 0.0) -> None:
        """Ctrl-C or SIGTERM: the run stops, checkpointed at update u (None: during pre-training,
        which keeps no checkpoint)."""
        self.status = "interrupted"
        if u is not None:
            self.checkpoint(u, seconds)

    def checkpoint(self, u: int, seconds: float) -> None:
        self.progress.update, self.progress.seconds = u, seconds
        events = self.recorder.sync()  # first: the checkpoint vouches for them
        save_checkpoint(self.run_dir, {
            # clone: the weights may be views into replica stacks, which torch.save would store whole
            "model": {k: v.clone() for k, v in self.model.state_dict().items()},
            "stream": self.stream.state_dict(), "rng": rng_state(),
            "progress": asdict(self.progress), **self.windows.state(self.k),
            "config": OmegaConf.to_container(self.cfg, resolve=True), "numerics": self.numerics,
            "events": events})

    def ended(self) -> dict | None:
        """The summary of a replica whose run ended by diverging, in an earlier segment: it
        keeps its last good checkpoint and summary, and its stack resumes without it."""
        summary = read_summary(self.run_dir)  # None: none yet, or not one to go by: it resumes
        if summary and summary.get("status") == "diverged":
            self.status, self.summary = "diverged", summary
        return self.summary

    def finish(self, seconds: float) -> dict:
        """Write summary.json and say the run's result; returns the summary."""
        if self.status == "running":
            self.status = "completed"
        self.progress.seconds = seconds
        self.summary = summarize(self.run_dir, self.status, self.progress, self.step_offset,
                                 self.cfg.train.batch_size)
        report(self.run_dir, self.summary, self.progress)
        return self.summary
