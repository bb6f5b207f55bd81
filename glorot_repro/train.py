"""Train one deep MLP with plain SGD, the paper's protocol (Sec. 2.3), and log it to TensorBoard.

    python -m glorot_repro.train                      # tanh, normalized init, Shapeset-3x2, ~5 min on a CPU
    python -m glorot_repro.train activation=sigmoid init=standard model.depth=4 train.lr=0.1
    python -m glorot_repro.train dataset=mnist dataset.root=../shared/datasets

`train(cfg, run_dir)` reads top to bottom: device -> data -> model -> resume -> the loop
(evaluate, checkpoint, look for divergence, one SGD step) -> summary. `main()` is the thin Hydra
wrapper; tests call `train` directly.
"""
from __future__ import annotations

import json
import logging
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from glorot_repro.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from glorot_repro.config import check_override_keys, register_configs, validate
from glorot_repro.data import DatasetError, build_data
from glorot_repro.errors import ConfigError
from glorot_repro.losses import cost
from glorot_repro.lean import LeanSGD
from glorot_repro.model import DeepMLP
from glorot_repro.provenance import git_commit, versions
from glorot_repro.rng import rng_state, seed_everything, set_rng_state
from glorot_repro.probes import run_probes
from glorot_repro.tblog import log_histograms, log_scalars, open_writer

log = logging.getLogger("glorot_repro.train")
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is visible; use device=auto or device=cpu")
    return torch.device(name)


def make_step(model: DeepMLP, lr: float, loss: str, kind: str):
    """The SGD update, theta <- theta - lr * g with g the mean gradient over the minibatch (no
    momentum, no weight decay, no schedule): `lean` fuses it into the backward pass
    (glorot_repro/lean.py); `autograd` is loss.backward() + torch.optim.SGD, for any model.
    Returns step(x, y) -> (loss, logits), both detached."""
    if kind == "lean":
        return LeanSGD(model, lr, loss).step
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def autograd_step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x)
        value = cost(logits, y, loss)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        return value.detach(), logits.detach()
    return autograd_step


@torch.no_grad()
def error_percent(model: DeepMLP, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    wrong = sum(int((model(x[i:i + batch]).argmax(1) != y[i:i + batch]).sum())
                for i in range(0, len(x), batch))
    return 100.0 * wrong / len(x)


@dataclass
class Progress:
    """Everything about the run's position that a checkpoint must carry besides tensors."""
    update: int = 0
    best_valid_error: float = math.inf
    test_error_at_best_valid: float = math.nan
    best_update: int = -1
    last_valid_error: float = math.nan
    last_test_error: float = math.nan
    seconds: float = 0.0  # wall time spent in this run, summed over resumed segments
    checked: int = 0  # the last update at which the loss was seen finite


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
    validate(cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    tc = cfg.train
    segment_start = time.time()

    # Data: a training stream (Shapeset: generated online) and fixed validation and test sets.
    data = build_data(cfg.dataset, cfg.seed, device)

    # Model: the seed fixes the initial weights; biases start at 0 (paper Sec. 2.3).
    seed_everything(cfg.seed)
    model = DeepMLP(data.n_inputs, data.n_classes, cfg.model.depth, cfg.model.width,
                    cfg.activation.name, cfg.init.name).to(device)
    # Plain SGD keeps no state besides the weights, so a checkpoint needs only the model.
    step = make_step(model, tc.lr, tc.loss, tc.step)

    # Resume: rerunning the same command in the same run dir continues where it stopped.
    progress = Progress()
    window = torch.zeros(2, dtype=torch.float64, device=device)  # summed loss, wrong answers
    window_n = 0  # examples in the window
    ckpt = load_checkpoint(run_dir)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        data.stream.load_state_dict(ckpt["stream"])
        set_rng_state(ckpt["rng"])
        progress = Progress(**ckpt["progress"])
        window, window_n = ckpt["window"].to(device), ckpt["window_n"]
        log.info("resuming %s from update %d", run_dir, progress.update)
    resumed_at = progress.update if ckpt is not None else None
    # Clears what a killed segment logged after its last checkpoint (all of it, if it had none).
    writer = open_writer(run_dir, progress.update)

    def checkpoint() -> None:
        progress.seconds += time.time() - checkpoint.since
        checkpoint.since = time.time()
        save_checkpoint(run_dir, {
            "model": model.state_dict(),
            "stream": data.stream.state_dict(), "rng": rng_state(),
            "progress": asdict(progress), "window": window.cpu(), "window_n": window_n,
            "config": OmegaConf.to_container(cfg, resolve=True)})
    checkpoint.since = segment_start

    def evaluate(u: int) -> None:
        nonlocal window_n
        progress.last_valid_error = error_percent(model, *data.valid, tc.eval_batch_size)
        progress.last_test_error = error_percent(model, *data.test, tc.eval_batch_size)
        scalars = {"error/valid": progress.last_valid_error, "error/test": progress.last_test_error}
        if window_n:  # online training error over the updates since the last evaluation
            loss_sum, wrong = window.tolist()
            scalars |= {"error/train": 100.0 * wrong / window_n, "loss/train": loss_sum / window_n}
        log_scalars(writer, scalars, u)
        if progress.last_valid_error < progress.best_valid_error:
            progress.best_valid_error = progress.last_valid_error
            progress.test_error_at_best_valid = progress.last_test_error
            progress.best_update = u
        window.zero_()
        window_n = 0
        bar.set_postfix_str(" ".join(f"{k.replace('error/', '')}={v:.2f}{'%' if 'error' in k else ''}"
                                     for k, v in scalars.items()), refresh=False)

    # Probes (Sec. 4): per-layer statistics on a fixed probe set, the first test examples.
    probe_x, probe_y = (t[:cfg.log.probe_size] for t in data.test)

    def probe(u: int) -> None:
        scalars, histograms = run_probes(model, probe_x, probe_y, u, cfg)
        log_scalars(writer, scalars, u)
        log_histograms(writer, histograms, u)

    def finite() -> bool:
        return bool(torch.isfinite(window[0]))

    status = "completed"
    bar = tqdm(total=tc.updates, initial=progress.update, desc="updates", unit="upd",
               disable=not cfg.log.progress, dynamic_ncols=True, mininterval=1.0)
    try:
        with StopRequest() as stop:
            u = progress.update
            while True:
                progress.update = u
                at_resume_point = u == resumed_at
                if u % tc.check_every == 0 or u == tc.updates:
                    if not finite():
                        status = "diverged"
                        break
                    progress.checked = u
                if not at_resume_point and (u % tc.eval_every == 0 or u == tc.updates):
                    evaluate(u)
                if not at_resume_point and cfg.log.every and u % cfg.log.every == 0:
                    probe(u)
                if not at_resume_point and u > 0 and (u % tc.checkpoint_every == 0 or u == tc.updates):
                    checkpoint()
                if u == tc.updates:
                    break
                if stop.requested:
                    status = "interrupted"
                    checkpoint()
                    break
                x, y = data.stream.next_batch(tc.batch_size)
                loss, logits = step(x, y)
                # Accumulated on the device: no host sync per update.
                window[0] += loss * len(y)
                window[1] += (logits.argmax(1) != y).sum()
                window_n += len(y)
                u += 1
                bar.update(1)
    finally:
        bar.close()
        writer.close()

    progress.seconds += time.time() - checkpoint.since
    examples = progress.update * tc.batch_size
    summary = {
        "status": status,
        "updates": progress.update,
        "examples": examples,
        "best_valid_error": progress.best_valid_error,
        "test_error_at_best_valid": progress.test_error_at_best_valid,
        "best_update": progress.best_update,
        "final_valid_error": progress.last_valid_error,
        "final_test_error": progress.last_test_error,
        "seconds": round(progress.seconds, 3),
        "examples_per_second": round(examples / progress.seconds, 1) if progress.seconds else 0.0,
        "versions": versions(),
        "git": git_commit(),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    report(summary, run_dir, progress)
    return summary


def report(summary: dict, run_dir: Path, progress: Progress) -> None:
    """The few lines a user reads at the end of a run."""
    status = summary["status"]
    if status == "diverged":
        kept = load_checkpoint(run_dir)
        where = (f"the last good checkpoint (update {kept['progress']['update']}) is kept in "
                 f"{run_dir / CHECKPOINT}" if kept else "no checkpoint had been written yet")
        log.error("diverged: the training loss became NaN/inf between updates %d and %d; %s",
                  progress.checked, progress.update, where)
    elif status == "interrupted":
        log.warning("interrupted at update %d; checkpoint saved. Rerun the same command with "
                    "hydra.run.dir=%s to resume.", summary["updates"], run_dir)
    log.info("%s: %d updates (%d examples) in %.0f s, %.0f examples/s", status, summary["updates"],
             summary["examples"], summary["seconds"], summary["examples_per_second"])
    log.info("best valid error %.2f%% (update %d), test error there %.2f%%, final test error %.2f%%",
             summary["best_valid_error"], summary["best_update"], summary["test_error_at_best_valid"],
             summary["final_test_error"])
    log.info("logs: %s", run_dir)
    log.info("view: tensorboard --logdir %s", run_dir)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    try:
        summary = train(cfg, hydra_cfg.runtime.output_dir)
    except (ConfigError, DatasetError) as err:
        log.error("error: %s", err)
        sys.exit(2)
    # A diverged or interrupted single run exits non-zero; in a sweep the other jobs carry on.
    if summary["status"] != "completed" and hydra_cfg.mode != RunMode.MULTIRUN:
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
