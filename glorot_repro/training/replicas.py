"""Which runs one process trains together (train.replicas), each in its own run dir as if it
had run alone, and the update they resume from."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from glorot_repro.errors import ResumeError

if TYPE_CHECKING:
    from glorot_repro.training.run import Run

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
