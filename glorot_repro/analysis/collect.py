"""From trees of run dirs to tidy tables: one row per (run, tag, step). The event files are the
single source of truth (docs/tags.md); each run's config comes from its `.hydra/config.yaml`.

Every collector takes one root or several (e.g. Table 1's runs and the beyond-the-paper runs);
a run is named by its path from its root's parent, so names from different roots never clash.

The tables outlive the runs: `save_series` writes them as CSV into a series dir
(results/data/<scale>/<experiment>/<run set>/{scalars,histograms,summaries}.csv), and a root that
is such a dir, or holds such dirs (an experiment's saved run sets), is read back as the tables
they hold, so figures redraw without the hours of training."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from tbparse import SummaryReader

from glorot_repro.measure import tags
from glorot_repro.measure.tblog import EVENTS_GLOB

# Config values that name a run in figures and tables.
CONFIG_COLUMNS = {"activation": "activation.name", "init": "init.name",
                  "pretrain": "pretrain.name", "dataset": "dataset.name", "depth": "model.depth",
                  "width": "model.width", "lr": "train.lr", "seed": "seed", "loss": "train.loss",
                  "batch_size": "train.batch_size", "signed_pixels": "dataset.signed_pixels"}
# What a run from before a key existed ran with.
CONFIG_DEFAULTS = {"pretrain": "none", "signed_pixels": False}
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


LIST_COLUMNS = ("limits", "counts")  # histogram bins: JSON lists in a CSV cell


def holds_series(root: Path) -> bool:
    return (root / "scalars.csv").exists() or (root / "summaries.csv").exists()


def series_dirs(root: Path) -> list[Path]:
    """`root` if it is a series dir, else the series dirs directly under it (one per saved run set)."""
    root = Path(root)
    if holds_series(root):
        return [root]
    return sorted(d for d in root.iterdir() if d.is_dir() and holds_series(d)) if root.is_dir() else []


def is_series_dir(root: Path) -> bool:
    return bool(series_dirs(root))


def saved_tables(root: Path, kind: str) -> list[pd.DataFrame] | None:
    """The `kind` tables saved under `root`, or None where it holds no saved series (read its runs)."""
    saved = series_dirs(root)
    return [read_series(d, kind) for d in saved if (d / f"{kind}.csv").exists()] if saved else None


def read_series(root: Path, kind: str) -> pd.DataFrame:
    df = pd.read_csv(root / f"{kind}.csv")
    for column in LIST_COLUMNS:
        if column in df:
            df[column] = df[column].map(lambda cell: np.asarray(json.loads(cell)))
    return df


def save_series(roots: Roots, out: Path) -> list[Path]:
    """Write the collected tables of `roots` as CSV into the series dir `out` (those that exist:
    runs without probes have no histograms, unfinished runs no summaries)."""
    written = []
    for kind, collect in (("scalars", collect_scalars), ("histograms", collect_histograms),
                          ("summaries", collect_summaries)):
        try:
            df = collect(roots)
        except FileNotFoundError:
            continue
        if df.empty:
            continue
        for column in LIST_COLUMNS:
            if column in df:
                df[column] = df[column].map(lambda v: json.dumps([float(x) for x in v]))
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / f"{kind}.csv", index=False)
        written.append(out / f"{kind}.csv")
    return written


def _collect(roots: Roots, kind: str) -> pd.DataFrame:
    frames = []
    for root in as_roots(roots):
        if (saved := saved_tables(root, kind)) is not None:
            frames += saved
            continue
        for run_dir in run_dirs(root):
            df = getattr(SummaryReader(str(run_dir)), kind)
            if not df.empty:
                frames.append(df.assign(run=run_name(run_dir, root), **run_config(run_dir)))
    if not frames:
        raise FileNotFoundError(f"no TensorBoard event files (or saved {kind}.csv) under "
                                f"{describe(roots)}")
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
    rows, frames = [], []
    for root in as_roots(roots):
        if (saved := saved_tables(root, "summaries")) is not None:
            frames += saved
            continue
        for path in sorted(root.rglob("summary.json")):
            summary = json.loads(path.read_text())
            rows.append({"run": run_name(path.parent, root), **run_config(path.parent),
                         **{k: summary[k] for k in SUMMARY_COLUMNS}})
    if rows:
        frames.append(pd.DataFrame(rows))
    if not frames:
        raise FileNotFoundError(f"no finished runs (summary.json) under {describe(roots)}")
    return pd.concat(frames, ignore_index=True)


def layer_stat(rows: pd.DataFrame, quantity: str, stat: str) -> dict[int, pd.Series]:
    """{layer: value by step, averaged over the runs in `rows`} of the tags
    <quantity>/layer<l>/<stat>, for the hidden layers of the runs' depth (tags.is_hidden)."""
    depth = int(rows.depth.max())
    out = {}
    for tag, group in rows.groupby("tag"):
        parsed = tags.parse(tag)
        if (parsed and not parsed.theory and (parsed.quantity, parsed.stat) == (quantity, stat)
                and tags.is_hidden(parsed.layer, depth)):
            out[parsed.layer] = group.groupby("step").value.mean()
    return dict(sorted(out.items()))


def hidden_histograms(hist: pd.DataFrame, quantity: str) -> pd.DataFrame:
    """The rows of a histogram table that hold <quantity>/layer<l> for a hidden layer l of their
    run (not the softmax layer's weight gradients, W^{D+1}), with a `layer` column."""
    def hidden_layer(tag: str, depth: int) -> int:
        parsed = tags.parse(tag)
        if parsed and parsed.quantity == quantity and parsed.stat is None and not parsed.theory:
            return parsed.layer if tags.is_hidden(parsed.layer, depth) else 0
        return 0
    with_layer = hist.assign(layer=[hidden_layer(t, d) for t, d in zip(hist.tag, hist.depth)])
    return with_layer[with_layer.layer > 0]
