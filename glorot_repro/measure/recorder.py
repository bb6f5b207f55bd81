"""One run's measurement: the error on the fixed sets, the probe set's internals, and the
TensorBoard event files they go to. The training loop says when; the recorder measures and
writes (docs/tags.md lists what)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from glorot_repro.config import LogConf
from glorot_repro.measure import tags
from glorot_repro.measure.dashboards import layout, write_layout
from glorot_repro.measure.hooks import capture
from glorot_repro.measure.probes import layer_internals, run_probes
from glorot_repro.measure.tblog import (close_writer, log_histograms, log_scalars, open_writer,
                                        sync_events)
from glorot_repro.nets.losses import cost
from glorot_repro.nets.model import DeepMLP
from glorot_repro.rundir.guard import check_vouched, own_event_files

Window = tuple[float, float, int]  # loss sum, wrong answers, examples (measure/windows.py)


@dataclass(frozen=True)
class Subject:
    """What the measurement needs to know of a run's net besides its weights."""
    activation: str  # activation.name: the histograms' value range, the theory's regime
    init: str  # init.name: the theory's prediction at update 0
    loss: str  # train.loss
    batch_size: int  # train.batch_size: the minibatch spread of the weight gradients
    eval_batch_size: int  # train.eval_batch_size
    hooks: bool  # internals read through hooks (train.step=autograd), not DeepMLP's forward


@torch.no_grad()
def error_percent(model: DeepMLP, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    wrong = sum(int((model(x[i:i + batch]).argmax(1) != y[i:i + batch]).sum())
                for i in range(0, len(x), batch))
    return 100.0 * wrong / len(x)


class Recorder:
    """Pre-training's updates come first on the step axis of the event files: supervised update
    u is logged at step u + step_offset, so step x batch size is the examples seen (Fig. 11)."""

    def __init__(self, run_dir: Path, log: LogConf, subject: Subject, step_offset: int):
        self.run_dir, self.log, self.subject, self.step_offset = run_dir, log, subject, step_offset
        self.writer = None
        self.vouched: list[str] = []  # the event files the resumed checkpoint was written after

    def open(self, resumed_at: int | None, vouched: list[str]) -> None:
        """Open the event files of a run starting fresh (None) or resumed at an update. Cuts what
        a killed segment logged after its last checkpoint (all of it, if it had none): the steps
        up to the checkpoint's update are on disk and are not logged again."""
        self.vouched = vouched
        last_saved = -1 if resumed_at is None else resumed_at + self.step_offset
        if resumed_at is not None:
            check_vouched(self.run_dir, vouched, resumed_at, last_saved)
        self.writer = open_writer(self.run_dir, last_saved, self.event_files(), vouched)

    def event_files(self) -> list[Path]:
        return own_event_files(self.run_dir, self.vouched)

    def write(self, step: int, scalars: dict[str, float]) -> None:
        """Scalars at a step of the event files' axis (pre-training's own)."""
        log_scalars(self.writer, scalars, step)

    def evaluate(self, u: int, model: DeepMLP, valid, test, window: Window) -> dict[str, float]:
        """Validation and test error on the full sets and the online training error since the
        last evaluation (`window`), logged at update u. Returns what it logged."""
        batch = self.subject.eval_batch_size
        scalars = {tags.ERROR_VALID: error_percent(model, *valid, batch),
                   tags.ERROR_TEST: error_percent(model, *test, batch)}
        loss_sum, wrong, examples = window
        if examples:
            scalars |= {tags.ERROR_TRAIN: 100.0 * wrong / examples,
                        tags.LOSS_TRAIN: loss_sum / examples}
        log_scalars(self.writer, scalars, u + self.step_offset)
        return scalars

    def probe(self, u: int, model: DeepMLP, x: torch.Tensor, y: torch.Tensor) -> None:
        """The probe set's internals: through hooks under train.step=autograd (hooks.capture, as
        watch reads any model), from DeepMLP's forward under the lean step."""
        s = self.subject
        if s.hooks:
            internals = capture(model, x, y, lambda logits, t: cost(logits, t, s.loss))
        else:
            internals = layer_internals(model, x, y, s.loss)
        scalars, histograms = run_probes(model, internals, u, self.log, s.activation, s.init,
                                         s.batch_size)
        step = u + self.step_offset
        if u == 0:  # the dashboard, once: update 0 logs every statistic the run has
            write_layout(self.writer, layout(scalars.keys() | set(tags.ERRORS)), step)
        log_scalars(self.writer, scalars, step)
        log_histograms(self.writer, histograms, step)

    def sync(self) -> list[str]:
        """Put every event logged so far on disk (a checkpoint vouches for them); their names."""
        sync_events(self.writer, self.run_dir)
        return [p.name for p in self.event_files()]

    def close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            close_writer(writer)
