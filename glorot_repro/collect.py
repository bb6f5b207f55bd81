"""From a tree of run dirs to tidy tables: one row per (run, tag, step). The event files are the
single source of truth (design.md); each run's config comes from its `.hydra/config.yaml`."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf
from tbparse import SummaryReader

from glorot_repro.tblog import EVENTS_GLOB

# Config values that name a run in figures and tables.
CONFIG_COLUMNS = {"activation": "activation.name", "init": "init.name",
                  "pretrain": "pretrain.name", "dataset": "dataset.name", "depth": "model.depth",
                  "width": "model.width", "lr": "train.lr", "seed": "seed", "loss": "train.loss",
                  "batch_size": "train.batch_size"}


def run_dirs(root: str | Path) -> list[Path]:
    """Every directory under `root` (itself included) that holds TensorBoard event files."""
    return sorted({p.parent for p in Path(root).rglob(EVENTS_GLOB)})


def run_config(run_dir: Path) -> dict:
    path = run_dir / ".hydra" / "config.yaml"
    if not path.exists():
        return {}
    cfg = OmegaConf.load(path)
    return {col: OmegaConf.select(cfg, key) for col, key in CONFIG_COLUMNS.items()}


def _collect(root: str | Path, kind: str) -> pd.DataFrame:
    frames = []
    for run_dir in run_dirs(root):
        df = getattr(SummaryReader(str(run_dir)), kind)
        if df.empty:
            continue
        df = df.assign(run=str(run_dir.relative_to(root)), **run_config(run_dir))
        frames.append(df)
    if not frames:
        raise FileNotFoundError(f"no TensorBoard event files under {root}")
    return pd.concat(frames, ignore_index=True)


def collect_scalars(root: str | Path) -> pd.DataFrame:
    """Columns: run, the CONFIG_COLUMNS, tag, step, value."""
    return _collect(root, "scalars")


def collect_histograms(root: str | Path) -> pd.DataFrame:
    """Columns: run, the CONFIG_COLUMNS, tag, step, limits (right bin edges), counts."""
    return _collect(root, "histograms")


SUMMARY_COLUMNS = ["status", "updates", "best_valid_error", "test_error_at_best_valid",
                   "final_valid_error", "final_test_error"]


def collect_summaries(root: str | Path) -> pd.DataFrame:
    """One row per finished run (one with a summary.json): run, the CONFIG_COLUMNS and the
    SUMMARY_COLUMNS. `run` names the run as collect_scalars does."""
    root = Path(root)
    rows = []
    for path in sorted(root.rglob("summary.json")):
        summary = json.loads(path.read_text())
        rows.append({"run": str(path.parent.relative_to(root)), **run_config(path.parent),
                     **{k: summary[k] for k in SUMMARY_COLUMNS}})
    if not rows:
        raise FileNotFoundError(f"no finished runs (summary.json) under {root}")
    return pd.DataFrame(rows)
