"""Table 1 from finished runs: the paper's protocol for choosing a learning rate, our choice of
significance test, and the table beside the paper's numbers.

Protocol (paper Sec. 2.3, Table 1): for each row (activation, init, pre-training) and dataset, the
learning rate is chosen on validation error from a grid; here the grid point with the lowest
validation error averaged over seeds (a rate at which any seed diverged is not eligible). The cell
is the test error at that rate, mean +- std over seeds. The paper bolds entries that are
"statistically different from non-bold ones" at p = 0.005 without naming the test (docs/paper.md §5);
we use Welch's two-sided t-test over seeds against the best row of the column. A row is bold when
it has at least 2 seeds, the test cannot tell it from the best row, and its seeds' range overlaps
the best row's (with 2 seeds a row the test is weak: a row whose every seed is worse than every
seed of the best, such as a sigmoid at 62% and 89% beside tanh at 1.8%, is not bold). A one-seed
row is never bold: nothing over seeds judges it. Seeds are the unit because seed-to-seed spread,
not test-set sampling, is what decides whether an init helps. (Until the long-scale Table 1, every
row the test could not separate was bold, one-seed rows included.)

`criterion` picks which errors count: "final" (the paper: errors after the last update) or
"best" (early stopping: the test error where the validation error was lowest)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from glorot_repro.analysis.labels import DATASET_NAMES, ROW_KEYS, curve_label
from glorot_repro.analysis.paper import FIG11, Reading
from glorot_repro.analysis.paper import TABLE1 as PAPER_TABLE1

P_VALUE = 0.005

# The paper's row order; rows it lacks (Sigmoid N, ReLU He, ...) follow in the order they are found.
PAPER_ROWS = [(activation, init, "none") for activation, init in PAPER_TABLE1]
CRITERIA = {"final": ("final_valid_error", "final_test_error"),
            "best": ("best_valid_error", "test_error_at_best_valid")}


def paper_number(row: tuple[str, str, str], dataset: str) -> float:
    activation, init, pretrain = row
    if pretrain != "none":
        return math.nan
    return PAPER_TABLE1.get((activation, init), {}).get(dataset, math.nan)


def paper_curve_at(readings: list[Reading], row: tuple[str, str, str], update: int) -> float:
    """The paper's curve for `row` read at `update` (within the readings' 5% x error), else nan:
    Table 1 is the paper's error after 2.5-5M updates; a run that stopped sooner is compared with
    the paper's curve where it stopped (Fig. 11's "Sigmoid" is its 4-layer net, which sits with
    the 5-layer one at 83.5% until about 700k updates: docs/paper.md §6)."""
    label = curve_label(*row)
    at = [r.value for r in readings if r.series == label and abs(r.update - update) <= 0.05 * r.update]
    return at[0] if at else math.nan


def choose_lr(runs: pd.DataFrame, criterion: str = "final") -> pd.DataFrame:
    """The runs at each (dataset, row)'s chosen learning rate, one row per seed.
    `runs`: collect_summaries' table."""
    valid_col, _ = CRITERIA[criterion]
    chosen = []
    for _, cell in runs.groupby(["dataset", *ROW_KEYS]):
        by_lr = cell.groupby("lr")
        eligible = by_lr.status.agg(lambda s: (s == "completed").all())
        mean_valid = by_lr[valid_col].mean()[eligible]
        if mean_valid.empty:
            continue  # every rate diverged: the row stays empty for this dataset
        chosen.append(cell[cell.lr == mean_valid.idxmin()])
    return pd.concat(chosen, ignore_index=True)


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Welch t-test p-value; 1 when it cannot be computed (one seed), and for two
    spreadless samples 1 if their means agree, else 0."""
    if len(a) < 2 or len(b) < 2:
        return 1.0
    if np.var(a) == 0 and np.var(b) == 0:
        return 1.0 if np.mean(a) == np.mean(b) else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def bold(errors: np.ndarray, best: np.ndarray, p: float, p_value: float = P_VALUE) -> bool:
    """Table 1's bold (module doc): 2 seeds or more, not separated from the best row by Welch's
    test, and the seeds' ranges overlap."""
    return len(errors) >= 2 and p >= p_value and errors.min() <= best.max()


# The paper's training curves per dataset, for runs shorter than the paper's (paper_curve_at).
CURVES = {"shapeset": FIG11}


def table1(runs: pd.DataFrame, criterion: str = "final", p_value: float = P_VALUE) -> pd.DataFrame:
    """One row per (dataset, row): the ROW_KEYS, lr, seeds, updates, mean, std, p (against the
    column's best), bold, paper, and paper_curve (the paper's curve at our runs' update, where
    it was read off there)."""
    _, test_col = CRITERIA[criterion]
    rows = []
    for dataset, column in choose_lr(runs, criterion).groupby("dataset"):
        cells = dict(list(column.groupby(ROW_KEYS)))
        errors = {row: cell[test_col].to_numpy(float) for row, cell in cells.items()}
        best = min(errors, key=lambda row: errors[row].mean())
        for row, err in errors.items():
            p = welch_p(err, errors[best])
            updates = int(cells[row].updates.min())
            rows.append({
                "dataset": dataset, **dict(zip(ROW_KEYS, row)), "lr": float(cells[row].lr.iloc[0]),
                "seeds": len(err), "updates": updates, "mean": err.mean(),
                "std": err.std(ddof=1) if len(err) > 1 else math.nan,
                "p_vs_best": p, "bold": bold(err, errors[best], p, p_value),
                "paper": paper_number(row, dataset),
                "paper_curve": paper_curve_at(CURVES.get(dataset, []), row, updates)})
    return pd.DataFrame(rows)


def ordered_rows(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    found = list(dict.fromkeys(zip(*(table[k] for k in ROW_KEYS))))
    return [r for r in PAPER_ROWS if r in found] + [r for r in found if r not in PAPER_ROWS]


def to_markdown(table: pd.DataFrame) -> str:
    """The paper's layout, every dataset column beside the paper's number; bold as decided by
    the test; '—' where a dataset was not run."""
    datasets = list(DATASET_NAMES)
    head = ["", *(f"{DATASET_NAMES[d]} {who}" for d in datasets for who in ("(ours)", "(paper)"))]
    curves = table[table.paper_curve.notna()] if "paper_curve" in table else table.iloc[:0]
    curve_datasets = list(dict.fromkeys(curves.dataset))
    head += [f"{DATASET_NAMES[d]}: paper's curve at our update" for d in curve_datasets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in ordered_rows(table):
        cells = [curve_label(*row)]
        in_row = (table[ROW_KEYS] == pd.Series(dict(zip(ROW_KEYS, row)))).all(axis=1)
        for dataset in datasets:
            hit = table[in_row & (table.dataset == dataset)]
            if hit.empty:
                cells.append("—")
            else:
                r = hit.iloc[0]
                text = f"{r['mean']:.2f} ± {r['std']:.2f}" if r.seeds > 1 else f"{r['mean']:.2f}"
                cells.append(f"**{text}**" if r.bold else text)
            paper = paper_number(row, dataset)
            cells.append("—" if math.isnan(paper) else f"{paper:.2f}")
        for dataset in curve_datasets:
            hit = curves[in_row.loc[curves.index] & (curves.dataset == dataset)]
            cells.append("—" if hit.empty else
                         f"{hit.paper_curve.iloc[0]:.1f} at {hit.updates.iloc[0]:,} updates")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def records_markdown(table) -> str:
    """A Markdown table of a DataFrame's rows as they are (floats to 4 significant digits)."""
    def cell(v) -> str:  # a | inside a cell (|z|) would split it
        if v is pd.NA or v is None:  # a missing integer (Int64)
            return ""
        if isinstance(v, float):
            return "" if v != v else f"{v:.4g}"  # nan: a cell not run
        return str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
