"""From trees of run dirs to tidy tables: one row per (run, tag, step). The event files are the
single source of truth (design.md); each run's config comes from its `.hydra/config.yaml`.

Every collector takes one root or several (e.g. Table 1's runs and the beyond-the-paper runs);
a run is named by its path from its root's parent, so names from different roots never clash."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd
from omegaconf import OmegaConf
from tbparse import SummaryReader

from glorot_repro.tblog import EVENTS_GLOB

# Config values that name a run in figures and tables.
CONFIG_COLUMNS = {"activation": "activation.name", "init": "init.name",
                  "pretrain": "pretrain.name", "dataset": "dataset.name", "depth": "model.depth",
                  "width": "model.width", "lr": "train.lr", "seed": "seed", "loss": "train.loss",
                  "batch_size": "train.batch_size"}
# What a run from before a key existed ran with.
CONFIG_DEFAULTS = {"pretrain": "none"}
Roots = str | Path | Iterable[str | Path]


def as_roots(roots: Roots) -> list[Path]:
    return [Path(roots)] if isinstance(roots, (str, Path)) else [Path(r) for r in roots]


def describe(roots: Roots) -> str:
    return ", ".join(map(str, as_roots(roots)))


def run_name(run_dir: Path, root: Path) -> str:
    return str(run_dir.relative_to(root.parent))


def run_dirs(root: str | Path) -> list[Path]:
    """Every directory under `root` (itself included) that holds TensorBoard event files."""
    return sorted({p.parent for p in Path(root).rglob(EVENTS_GLOB)})


def run_config(run_dir: Path) -> dict:
    path = run_dir / ".hydra" / "config.yaml"
    if not path.exists():
        return {}
    cfg = OmegaConf.load(path)
    return {col: OmegaConf.select(cfg, key, default=CONFIG_DEFAULTS.get(col))
            for col, key in CONFIG_COLUMNS.items()}


def _collect(roots: Roots, kind: str) -> pd.DataFrame:
    frames = []
    for root in as_roots(roots):
        for run_dir in run_dirs(root):
            df = getattr(SummaryReader(str(run_dir)), kind)
            if not df.empty:
                frames.append(df.assign(run=run_name(run_dir, root), **run_config(run_dir)))
    if not frames:
        raise FileNotFoundError(f"no TensorBoard event files under {describe(roots)}")
    return pd.concat(frames, ignore_index=True)


def collect_scalars(roots: Roots) -> pd.DataFrame:
    """Columns: run, the CONFIG_COLUMNS, tag, step, value."""
    return _collect(roots, "scalars")


def collect_histograms(roots: Roots) -> pd.DataFrame:
    """Columns: run, the CONFIG_COLUMNS, tag, step, limits (right bin edges), counts."""
    return _collect(roots, "histograms")


SUMMARY_COLUMNS = ["status", "updates", "best_valid_error", "test_error_at_best_valid",
                   "final_valid_error", "final_test_error"]


def collect_summaries(roots: Roots) -> pd.DataFrame:
    """One row per finished run (one with a summary.json): run, the CONFIG_COLUMNS and the
    SUMMARY_COLUMNS. `run` names the run as collect_scalars does."""
    rows = []
    for root in as_roots(roots):
        for path in sorted(root.rglob("summary.json")):
            summary = json.loads(path.read_text())
            rows.append({"run": run_name(path.parent, root), **run_config(path.parent),
                         **{k: summary[k] for k in SUMMARY_COLUMNS}})
    if not rows:
        raise FileNotFoundError(f"no finished runs (summary.json) under {describe(roots)}")
    return pd.DataFrame(rows)
