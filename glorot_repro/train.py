"""Train deep MLPs with plain SGD, the paper's protocol (Sec. 2.3), and log them to TensorBoard.

    python -m glorot_repro.train                      # tanh, normalized init, Shapeset-3x2, ~5 min on a CPU
    python -m glorot_repro.train activation=sigmoid init=standard model.depth=4 train.lr=0.1
    python -m glorot_repro.train dataset=mnist dataset.root=../shared/datasets
    python -m glorot_repro.train 'train.replicas.lrs=[0.01,0.03,0.1]'   # 3 models in one process

`train(cfg, run_dir)` reads top to bottom: device -> data -> models -> resume -> pre-training
(pretrain=dae, fresh runs only) -> the loop (look for divergence, evaluate, probe, checkpoint, one
SGD step) -> summaries. One model is the usual case; `train.replicas` trains several (inits x
seeds x learning rates) as one stack, each writing its own run dir as if it had run alone. `main()` is
the command, a thin Hydra wrapper that says any bad input in one line (the config is checked
before Hydra creates the run dir: glorot_repro/callbacks.py); tests call `train`.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from glorot_repro.errors import USER_ERRORS, ResumeError, exit_with

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from glorot_repro.run import Run

# Only the standard library above: the command's start (--help, a bad command line, Ctrl-C)
# needs none of torch, which main() and train() import when they run.
log = logging.getLogger("glorot_repro.train")
SEED_STRIDE = 1000  # train.replicas.n_seeds: seed, seed + 1000, ...


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
    from omegaconf import OmegaConf

    from glorot_repro.checkpoint import write_atomic

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
    with replicas, {"status": the worst, "replicas": [each run's summary]}.

    One process per run dir: a second one is refused (glorot_repro/lock.py)."""
    from glorot_repro.lock import locked

    with locked(run_dir):
        return _train(cfg, Path(run_dir))


def _train(cfg: DictConfig, run_dir: Path) -> dict:
    import torch
    from hydra.core.hydra_config import HydraConfig
    from tqdm import tqdm

    from glorot_repro.config import validate
    from glorot_repro.data import build_data
    from glorot_repro.device import resolve_device
    from glorot_repro.graphs import maybe_graphed
    from glorot_repro.model import DeepMLP
    from glorot_repro.rng import seed_everything
    from glorot_repro.run import Run
    from glorot_repro.sgd import make_sgd

    validate(cfg)
    device = resolve_device(cfg.device)
    tc = cfg.train
    started = time.time()

    # Data: fixed validation and test sets; a training stream per model (Shapeset: online).
    data = build_data(cfg.dataset, device, tc.batch_size)
    probe_x, probe_y = (t[:cfg.log.probe_size] for t in data.test)  # the paper's 300 examples

    # Models: each seed fixes its initial weights; biases start at 0 (paper Sec. 2.3).
    plan = replica_runs(cfg, run_dir)
    windows = torch.zeros(len(plan), 2, dtype=torch.float64, device=device)  # loss sum, wrong
    runs = []
    for k, (run_cfg, run_path) in enumerate(plan):
        seed_everything(run_cfg.seed)
        model = DeepMLP(data.n_inputs, data.n_classes, cfg.model.depth, cfg.model.width,
                        cfg.activation.name, run_cfg.init.name).to(device)
        runs.append(Run(run_path, run_cfg, model, data.new_stream(run_cfg.seed), windows[k]))
    sgd = make_sgd([r.model for r in runs], [r.cfg.train.lr for r in runs], cfg, device)
    sgd = maybe_graphed(sgd, cfg, device)  # CUDA: each update one graph replay

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
    if len(runs) > 1:
        for r in going_on:
            save_config(r.cfg, r.run_dir)
    resumed_at = u if any(r.resumed for r in runs) else None
    base_seconds = going_on[0].progress.seconds if going_on else 0.0
    for r in going_on:
        r.open_log()

    def elapsed() -> float:
        return base_seconds + time.time() - started

    # Pre-trained weights must survive a kill: the checkpoint at update 0 keeps them.
    pretrained = any(r.step_offset for r in runs)
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
                    r.status = "interrupted"
            while True:
                # Divergence: one host sync every train.check_every updates, for all models.
                if u % tc.check_every == 0 or u == tc.updates:
                    for r, finite in zip(runs, torch.isfinite(windows[:, 0]).tolist()):
                        if r.status == "running":
                            r.progress.update = u
                            if finite:
                                r.progress.checked = u
                            else:  # its run ends here, as if alone, whatever the others do
                                r.status = "diverged"
                                r.close_log()
                                r.finish(elapsed())
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
                if u == start:  # the bar's rate is of SGD updates: the start's evaluation is none
                    bar.unpause()
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
    summaries = [r.summary or r.finish(elapsed()) for r in runs]

    if pretraining_stopped:
        log.warning("interrupted during pre-training, which keeps no checkpoint; rerun the same "
                    "command with hydra.run.dir=%s to start it over.", run_dir)
    elif any(r.status == "interrupted" for r in runs):
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


def job(cfg: DictConfig) -> None:
    """One Hydra job: a run, or one run of a sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    try:
        summary = train(cfg, hydra_cfg.runtime.output_dir)
    except USER_ERRORS as err:  # found while loading data or resuming: train.log keeps it too
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
    """`python -m glorot_repro.train <overrides>`: every bad input ends in one line and exit
    status 2, Ctrl-C before training in one line and 130, like the shell's."""
    try:
        run_command(sys.argv[1:])
    except KeyboardInterrupt:  # during the imports, or a second Ctrl-C in training
        print("interrupted (Ctrl-C)", file=sys.stderr)
        sys.exit(130)


def run_command(overrides: list[str]) -> None:
    import hydra

    from glorot_repro.config import CONF_DIR, check_override_keys, register_configs
    from glorot_repro.hydra_errors import COMMAND_LINE_ERRORS, one_line

    # Hydra prints its own errors (a bad option, value or override) as many lines and exits 1;
    # with HYDRA_FULL_ERROR set it raises them instead, and they are said here in one line, unless
    # the user set it to see Hydra's full report.
    full_report = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    register_configs()
    try:
        check_override_keys(overrides)
        hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")(job)()
    except USER_ERRORS as err:
        exit_with(err)
    except COMMAND_LINE_ERRORS as err:
        if full_report:
            raise
        exit_with(one_line(err))


if __name__ == "__main__":
    main()
