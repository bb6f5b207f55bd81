"""Train deep MLPs with plain SGD, the paper's protocol (Sec. 2.3), and log them to TensorBoard.

    python -m glorot_repro.train                      # tanh, normalized init, Shapeset-3x2, ~5 min on a CPU
    python -m glorot_repro.train activation=sigmoid init=standard model.depth=4 train.lr=0.1
    python -m glorot_repro.train dataset=mnist dataset.root=../shared/datasets
    python -m glorot_repro.train 'train.replicas.lrs=[0.01,0.03,0.1]'   # 3 models in one process

`train(cfg, run_dir)` reads top to bottom: device -> data -> models -> resume -> pre-training
(pretrain=dae, fresh runs only) -> the loop (look for divergence, evaluate, probe, checkpoint, one
SGD step) -> summaries. One model is the usual case; `train.replicas` trains several (inits x
seeds x learning rates) as one stack, each writing its own run dir as if it had run alone
(training/replicas.py). Each run's state is its Run's (training/run.py), its measurement its
Recorder's (measure/recorder.py); the step is training/step.py's; the command is
command/cli.py's, a thin Hydra wrapper; tests call `train`.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

# Only the standard library above: `python -m glorot_repro.train --help` needs none of torch,
# which train() imports when it runs.
log = logging.getLogger("glorot_repro.train")  # also when run as __main__ (python -m)


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train, log and checkpoint one model, or K replicas together. Returns the run's summary;
    with replicas, {"status": the worst, "replicas": [each run's summary]}.

    One process per run dir: a second one is refused (rundir/lock.py)."""
    from glorot_repro.rundir.lock import locked

    with locked(run_dir):
        return _train(cfg, Path(run_dir))


def _train(cfg: DictConfig, run_dir: Path) -> dict:
    import torch
    from hydra.core.hydra_config import HydraConfig
    from tqdm import tqdm

    from glorot_repro.command.validate import validate
    from glorot_repro.data import build_data
    from glorot_repro.errors import ResumeError
    from glorot_repro.measure.tblog import logdir
    from glorot_repro.measure.windows import TrainingWindows
    from glorot_repro.nets.model import DeepMLP
    from glorot_repro.rng import seed_everything
    from glorot_repro.rundir.provenance import save_config
    from glorot_repro.rundir.stop import StopRequest
    from glorot_repro.training.device import resolve_device
    from glorot_repro.training.replicas import common_start, replica_runs
    from glorot_repro.training.run import Run
    from glorot_repro.training.step import make_step, numeric_path

    validate(cfg)
    device = resolve_device(cfg.device)
    tc = cfg.train
    started = time.time()

    # Data: fixed validation and test sets; a training stream per model (Shapeset: online).
    data = build_data(cfg.dataset, device, tc.batch_size)
    probe_x, probe_y = (t[:cfg.log.probe_size] for t in data.test)  # the paper's 300 examples

    # Models: each seed fixes its initial weights; biases start at 0 (paper Sec. 2.3).
    plan = replica_runs(cfg, run_dir)
    windows = TrainingWindows(len(plan), device)
    runs = []
    for k, (run_cfg, run_path) in enumerate(plan):
        seed_everything(run_cfg.seed)
        model = DeepMLP(data.n_inputs, data.n_classes, cfg.model.depth, cfg.model.width,
                        cfg.activation.name, run_cfg.init.name).to(device)
        runs.append(Run(run_path, run_cfg, model, data.new_stream(run_cfg.seed), windows, k))
    # CUDA: each update one graph replay (train.cuda_graphs)
    sgd = make_step([r.model for r in runs], [r.cfg.train.lr for r in runs], tc, device)
    for r in runs:
        r.numerics = numeric_path(sgd)  # checkpoints record it; a resume checks it

    # Resume: rerunning the same command in the same run dir continues where it stopped. A
    # replica that diverged in an earlier segment has ended (it keeps its last good checkpoint,
    # maybe none): the others resume without it.
    going_on = [r for r in runs if len(runs) == 1 or r.ended() is None]
    for r in going_on:
        r.resume()
    u = start = common_start(going_on)
    if u > tc.updates:
        raise ResumeError(f"the checkpoint in {run_dir} stands at update {u}, past "
                          f"train.updates={tc.updates}; pass train.updates={u} or more to continue "
                          f"it, or pick another hydra.run.dir")
    # The run dirs are ours and resumable: only now is their config (re)written. A Hydra job's
    # .hydra/ goes where Hydra would have written it.
    if HydraConfig.initialized():
        save_config(cfg, run_dir, hydra_files=True)
    for r in going_on:
        if r.run_dir != run_dir:  # a replica, even a stack of one (train.replicas.n_seeds=1)
            save_config(r.cfg, r.run_dir)
    resumed_at = u if any(r.resumed for r in runs) else None
    base_seconds = going_on[0].progress.seconds if going_on else 0.0
    for r in going_on:
        r.open_log()

    def stack(tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The models' minibatches along a leading model axis; one model's as a view, no copy."""
        return tensors[0].unsqueeze(0) if len(tensors) == 1 else torch.stack(tensors)

    def elapsed() -> float:
        return base_seconds + time.time() - started

    # Pre-trained weights must survive a kill: the checkpoint at update 0 keeps them.
    pretraining = any(r.step_offset for r in runs)
    try:
        with tqdm(total=tc.updates, initial=u, desc="updates", unit="upd",
                  disable=not cfg.log.progress, dynamic_ncols=True,
                  mininterval=1.0) as bar, StopRequest() as stop:
            # Pre-training: a fresh start only (a resumed run's checkpoint holds its weights). A
            # kill, Ctrl-C or SIGTERM during it loses it all (stopped, the runs end interrupted
            # without a checkpoint, so the loop below does nothing); the rerun starts it again.
            pretraining_stopped = resumed_at is None and not all(
                r.pretrain(lambda: stop.requested) for r in going_on)
            if pretraining_stopped:
                for r in going_on:
                    r.interrupt()
            while True:
                # Divergence: one host sync every train.check_every updates, for all models.
                if u % tc.check_every == 0 or u == tc.updates:
                    for r, finite in zip(runs, windows.finite()):
                        if r.running:
                            r.check(u, finite, elapsed())
                live = [r for r in runs if r.running]
                if not live:
                    break
                due_eval = u % tc.eval_every == 0 or u == tc.updates
                due_probe = bool(cfg.log.every) and u % cfg.log.every == 0
                due_checkpoint = (u > 0 or pretraining) and (u % tc.checkpoint_every == 0
                                                            or u == tc.updates)
                if due_eval or due_probe or due_checkpoint:
                    sgd.sync()  # they read the weights
                for r in live:
                    if u == resumed_at:  # its evaluation and checkpoint are already on disk
                        continue
                    if due_eval:
                        shown = r.evaluate(u, data.valid, data.test)
                        if r is live[0]:
                            bar.set_postfix_str(" ".join(
                                f"{k.replace('error/', '')}={v:.2f}{'%' if 'error' in k else ''}"
                                for k, v in shown.items()), refresh=False)
                    if due_probe:
                        r.recorder.probe(u, r.model, probe_x, probe_y)
                    if due_checkpoint:
                        r.checkpoint(u, elapsed())
                if u == start:  # the bar's rate is of SGD updates: the start's evaluation is none
                    bar.unpause()
                if u == tc.updates:
                    break
                # A stop lands where no update is deferred (at most train.defer - 1 updates
                # on), so the checkpoint holds what an uninterrupted run holds at that update.
                if stop.requested and not sgd.pending:
                    for r in live:
                        r.interrupt(u, elapsed())
                    break
                # One SGD step of every model on its own fresh minibatch (diverged ones too: the
                # stacks keep their shape; their numbers are no longer read).
                batches = [r.stream.next_batch(tc.batch_size) for r in runs]
                x, y = (stack(t) for t in zip(*batches))
                windows.add(*sgd.step(x, y), y)
                u += 1
                bar.update(1)
    finally:  # a crash leaves no summary, only closed event files and the last checkpoint
        for r in runs:
            r.recorder.close()
    summaries = [r.summary or r.finish(elapsed()) for r in runs]

    if pretraining_stopped:
        log.warning("interrupted during pre-training, which keeps no checkpoint; rerun the same "
                    "command with hydra.run.dir=%s to start it over.", run_dir)
    elif any(r.status == "interrupted" for r in runs):
        log.warning("interrupted at update %d; checkpoint saved. Rerun the same command with "
                    "hydra.run.dir=%s to resume.", u, run_dir)
    log.info("logs: %s", run_dir)
    log.info("view: tensorboard --logdir %s", logdir(run_dir))
    if len(runs) == 1:
        return summaries[0]
    worst = next((s["status"] for s in summaries if s["status"] != "completed"), "completed")
    return {"status": worst, "replicas": summaries}


def main() -> None:
    """The command `python -m glorot_repro.train <overrides>` (glorot_repro/command/cli.py)."""
    from glorot_repro.command.cli import main as command

    command(train)


if __name__ == "__main__":
    main()
