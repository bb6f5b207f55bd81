"""Train deep MLPs with plain SGD, the paper's protocol (Sec. 2.3), and log them to TensorBoard.

    python -m glorot_repro.train                      # tanh, normalized init, Shapeset-3x2, ~5 min on a CPU
    python -m glorot_repro.train activation=sigmoid init=standard model.depth=4 train.lr=0.1
    python -m glorot_repro.train dataset=mnist dataset.root=../shared/datasets
    python -m glorot_repro.train 'train.replicas.lrs=[0.01,0.03,0.1]'   # 3 models in one process

`train(cfg, run_dir)` reads top to bottom: device -> data -> models -> resume -> pre-training
(pretrain=dae, fresh runs only) -> the loop (look for divergence, evaluate, probe, checkpoint, one
SGD step) -> summaries. One model is the usual case; `train.replicas` trains several (seeds x
learning rates) as one stack, each writing its own run dir as if it had run alone. `main()` is
the thin Hydra wrapper; tests call `train`.
"""
from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import time
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from glorot_repro.config import check_override_keys, register_configs, validate
from glorot_repro.data import DatasetError, build_data
from glorot_repro.errors import ConfigError, ResumeError, RunDirError
from glorot_repro.lean import LeanSGD
from glorot_repro.losses import cost
from glorot_repro.model import DeepMLP
from glorot_repro.rng import seed_everything
from glorot_repro.run import Run

log = logging.getLogger("glorot_repro.train")
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is visible; use device=auto or device=cpu")
    return torch.device(name)


class AutogradSGD:
    """loss.backward() + torch.optim.SGD, for one model of any shape: the reference the lean
    step is tested against. Same interface as LeanSGD; its weights are always written."""

    def __init__(self, model: DeepMLP, lr: float, loss: str):
        self.model, self.loss = model, loss
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        self.pending = False

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x[0])
        value = cost(logits, y[0], self.loss)
        self.optimizer.zero_grad(set_to_none=True)
        value.backward()
        self.optimizer.step()
        return value.detach().view(1), logits.detach().unsqueeze(0)

    def sync(self) -> None:
        pass


def make_sgd(models: list[DeepMLP], lrs: list[float], cfg: DictConfig, device: torch.device):
    """The SGD update of every model, theta <- theta - lr * g with g the mean gradient over its
    minibatch (no momentum, no weight decay, no schedule). `lean` fuses it into the backward pass,
    defers writing it into the weights (train.defer) and trains K models as one stack
    (glorot_repro/lean.py); `autograd` is the textbook loop. Either has step(x, y) ->
    (losses, logits), with a leading model axis (x is (K, batch, inputs)), and sync(), which
    writes any deferred update into the weights before something reads them."""
    tc = cfg.train
    if tc.step == "lean":
        return LeanSGD(models, lrs, tc.loss, defer=resolve_defer(tc.defer, device))
    if len(models) > 1:
        raise ConfigError("train.step=autograd trains one model; use train.step=lean for replicas")
    return AutogradSGD(models[0], lrs[0], tc.loss)


def resolve_defer(defer: int | None, device: torch.device) -> int:
    """train.defer=null: 10 on a CPU, where writing every weight each update costs more than the
    thin correction products (measured: scripts/bench.py --defer 1, README), 1 on a GPU, where
    the extra kernel launches would cost more than the writes saved (not measured yet)."""
    if defer is None:
        return 10 if device.type == "cpu" else 1
    return defer


def replica_runs(cfg: DictConfig, run_dir: Path) -> list[tuple[DictConfig, Path]]:
    """One (config, run dir) per model. Without train.replicas: the run itself. With lists of
    seeds and/or learning rates: their product, each in run_dir/seed<s>_lr<lr> with the config it
    would have run with alone."""
    seeds, lrs = list(cfg.train.replicas.seeds), list(cfg.train.replicas.lrs)
    if not seeds and not lrs:
        return [(cfg, run_dir)]
    out = []
    for seed in seeds or [cfg.seed]:
        for lr in lrs or [cfg.train.lr]:
            alone = cfg.copy()
            alone.seed, alone.train.lr = seed, lr
            alone.train.replicas.seeds, alone.train.replicas.lrs = [], []
            out.append((alone, run_dir / f"seed{seed}_lr{lr:g}"))
    return out


def save_config(cfg: DictConfig, run_dir: Path) -> None:
    """A replica's own config where Hydra puts a lone run's, so tools read both alike."""
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")


def common_start(runs: list[Run]) -> int:
    """The update all runs resume from, once each has loaded its newest checkpoint. Replicas are
    checkpointed one after another, so a kill between two leaves some a checkpoint ahead: those
    step back to their previous checkpoint, at the others' update."""
    start = min(r.progress.update for r in runs)
    for r in runs:
        if r.progress.update != start and not r.resume(update=start):
            raise ResumeError(
                f"the replicas' checkpoints stand at different updates "
                f"{sorted({q.progress.update for q in runs})} and {r.run_dir} has none at update "
                f"{start}; resume each run dir alone, or delete the checkpoints to start over")
    return start


class StopRequest:
    """SIGINT/SIGTERM set a flag that the loop reads between updates, so a stop never lands in
    the middle of an SGD step and the checkpoint written on the way out is consistent.
    A second Ctrl-C stops at once."""

    def __init__(self):
        self.requested = False
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train, log and checkpoint one model, or K replicas together. Returns the run's summary;
    with replicas, {"status": the worst, "replicas": [each run's summary]}."""
    validate(cfg)
    device = resolve_device(cfg.device)
    tc = cfg.train
    started = time.time()

    # Data: fixed validation and test sets; a training stream per model (Shapeset: online).
    data = build_data(cfg.dataset, device, tc.batch_size)
    probe_x, probe_y = (t[:cfg.log.probe_size] for t in data.test)  # the paper's 300 examples

    # Models: each seed fixes its initial weights; biases start at 0 (paper Sec. 2.3).
    plan = replica_runs(cfg, Path(run_dir))
    windows = torch.zeros(len(plan), 2, dtype=torch.float64, device=device)  # loss sum, wrong
    runs = []
    for k, (run_cfg, run_path) in enumerate(plan):
        seed_everything(run_cfg.seed)
        model = DeepMLP(data.n_inputs, data.n_classes, cfg.model.depth, cfg.model.width,
                        cfg.activation.name, cfg.init.name).to(device)
        runs.append(Run(run_path, run_cfg, model, data.new_stream(run_cfg.seed), windows[k]))
        if len(plan) > 1:
            save_config(run_cfg, run_path)
    sgd = make_sgd([r.model for r in runs], [r.cfg.train.lr for r in runs], cfg, device)

    # Resume: rerunning the same command in the same run dir continues where it stopped.
    for r in runs:
        r.resume()
    u = common_start(runs)
    if u > tc.updates:
        raise ResumeError(f"the checkpoint in {run_dir} stands at update {u}, past "
                          f"train.updates={tc.updates}; pass train.updates={u} or more to continue "
                          f"it, or pick another hydra.run.dir")
    resumed_at = u if any(r.resumed for r in runs) else None
    base_seconds = runs[0].progress.seconds
    for r in runs:
        r.open_log()

    def elapsed() -> float:
        return base_seconds + time.time() - started

    # Pre-trained weights must survive a kill: the checkpoint at update 0 keeps them.
    pretrained = any(r.step_offset for r in runs)
    try:
        # Pre-training: a fresh start only (a resumed run's checkpoint holds its weights). A kill
        # or Ctrl-C during it loses it all; the rerun starts it again.
        if resumed_at is None:
            for r in runs:
                r.pretrain()
        with tqdm(total=tc.updates, initial=u, desc="updates", unit="upd",
                  disable=not cfg.log.progress, dynamic_ncols=True,
                  mininterval=1.0) as bar, StopRequest() as stop:
            while True:
                # Divergence: one host sync every train.check_every updates, for all models.
                if u % tc.check_every == 0 or u == tc.updates:
                    for r, finite in zip(runs, torch.isfinite(windows[:, 0]).tolist()):
                        if r.status == "running":
                            r.progress.update = u
                            if finite:
                                r.progress.checked = u
                            else:
                                r.status = "diverged"
                live = [r for r in runs if r.status == "running"]
                if not live:
                    break
                due_eval = u % tc.eval_every == 0 or u == tc.updates
                due_probe = bool(cfg.log.every) and u % cfg.log.every == 0
                due_checkpoint = (u > 0 or pretrained) and (u % tc.checkpoint_every == 0
                                                            or u == tc.updates)
                if due_eval or due_probe or due_checkpoint:
                    sgd.sync()  # they read the weights
                for r in live:
                    r.progress.update = u
                    if u == resumed_at:  # its evaluation and checkpoint are already on disk
                        continue
                    if due_eval:
                        shown = r.evaluate(u, data.valid, data.test)
                        if r is live[0]:
                            bar.set_postfix_str(" ".join(
                                f"{k.replace('error/', '')}={v:.2f}{'%' if 'error' in k else ''}"
                                for k, v in shown.items()), refresh=False)
                    if due_probe:
                        r.probe(u, probe_x, probe_y)
                    if due_checkpoint:
                        r.checkpoint(elapsed())
                if u == tc.updates:
                    break
                # A stop lands where no update is deferred (at most train.defer - 1 updates
                # on), so the checkpoint holds what an uninterrupted run holds at that update.
                if stop.requested and not sgd.pending:
                    for r in live:
                        r.status = "interrupted"
                        r.checkpoint(elapsed())
                    break
                # One SGD step of every model on its own fresh minibatch (diverged ones too: the
                # stacks keep their shape; their numbers are no longer read).
                batches = [r.stream.next_batch(tc.batch_size) for r in runs]
                x = torch.stack([b[0] for b in batches])
                y = torch.stack([b[1] for b in batches])
                loss, logits = sgd.step(x, y)
                # Accumulated on the device: no host sync per update.
                windows[:, 0] += loss * tc.batch_size
                windows[:, 1] += (logits.argmax(-1) != y).sum(dim=1)
                for r in runs:
                    r.window_n += tc.batch_size
                u += 1
                bar.update(1)
    finally:  # a crash leaves no summary, only closed event files and the last checkpoint
        for r in runs:
            r.close_log()
    summaries = [r.finish(elapsed()) for r in runs]

    if any(r.status == "interrupted" for r in runs):
        log.warning("interrupted at update %d; checkpoint saved. Rerun the same command with "
                    "hydra.run.dir=%s to resume.", u, run_dir)
    log.info("logs: %s", run_dir)
    # TensorBoard names a run by its path under --logdir: "." for the run dir itself, the dir's
    # name (activation, init, depth, seed, time by default) from its parent, beside its siblings.
    log.info("view: tensorboard --logdir %s", Path(run_dir).parent)
    if len(runs) == 1:
        return summaries[0]
    worst = next((s["status"] for s in summaries if s["status"] != "completed"), "completed")
    return {"status": worst, "replicas": summaries}


class OutputDirCheck(Callback):
    """Creates the run (or sweep) dir before Hydra does, so that one that cannot be written stops
    the command with a one-line error naming it. Registered with the schema (config.py)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        make_output_dir(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        make_output_dir(config.hydra.sweep.dir, "hydra.sweep.dir")


def make_output_dir(path: str, key: str) -> None:
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):  # an existing dir we may not write into
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as err:
        print(f"error: cannot write the output dir {path} ({err.strerror or err}); set {key} to a "
              f"writable directory", file=sys.stderr)
        sys.exit(2)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    try:
        summary = train(cfg, hydra_cfg.runtime.output_dir)
    except (ConfigError, DatasetError, ResumeError, RunDirError) as err:
        log.error("error: %s", err)
        sys.exit(2)
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    if summary["status"] == "interrupted":
        # Ctrl-C or SIGTERM stops the whole sweep, not just its current job. Rerunning the sweep
        # resumes each job: finished ones end at once with the numbers they had.
        if sweep:
            log.warning("sweep stopped; to resume it, rerun the same command with "
                        "hydra.sweep.dir=%s", hydra_cfg.sweep.dir)
        sys.exit(1)
    # A diverged single run exits non-zero; in a sweep the other jobs carry on.
    if summary["status"] != "completed" and not sweep:
        sys.exit(1)


def main() -> None:
    register_configs()
    try:
        check_override_keys(sys.argv[1:])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()


if __name__ == "__main__":
    main()
