"""The paper's claims as code: each function reads the tidy tables (collect.py) and returns what
we measured beside what the paper shows, with the rule that turns it into a verdict. The long-scale
verdict table is generated from these (never typed); each rule is stated in the code and in the
table. Readings of the paper's curves come from paper.py."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd

from glorot_repro import tags
from glorot_repro.analysis.collect import hidden_histograms, layer_stat

REPRODUCED, PARTLY, NOT, NOT_RUN = "reproduced", "partly", "not reproduced", "not run"
SATURATED = 0.95  # a tanh layer counts as saturated once the 98th percentile of |z| reaches this


@dataclass(frozen=True)
class Verdict:
    figure: str
    claim: str
    measured: str
    paper: str
    rule: str
    verdict: str


class Missing(LookupError):
    """The tables lack the runs a claim needs."""


def rows(table: pd.DataFrame, **where) -> pd.DataFrame:
    out = table
    for column, value in where.items():
        out = out[out[column] == value]
    if out.empty:
        raise Missing(", ".join(f"{k}={v}" for k, v in where.items()))
    return out


def series(scalars: pd.DataFrame, tag: str, **where) -> pd.Series:
    """value by step of one tag, averaged over the runs (seeds) that match."""
    return rows(scalars, tag=tag, **where).groupby("step").value.mean()


def layers(scalars: pd.DataFrame, quantity: str, stat: str, **where) -> dict[int, pd.Series]:
    """{layer: value by step} of <quantity>/layer<l>/<stat> for the hidden layers (l <= depth),
    averaged over the runs that match."""
    by_layer = layer_stat(rows(scalars, **where), quantity, stat)
    if not by_layer:
        raise Missing(f"{quantity}/layer<l>/{stat}")
    return by_layer


def grade(value: float, full: float, part: float) -> str:
    return REPRODUCED if value >= full else PARTLY if value >= part else NOT


def tanh_n_below_tanh(scalars: pd.DataFrame) -> Verdict:
    """Fig. 11: on Shapeset, normalized init trains tanh nets faster (paper at 200k updates:
    Tanh 60%, Tanh N 42%)."""
    tanh = series(scalars, tags.ERROR_TEST, dataset="shapeset", activation="tanh", init="standard")
    tanh_n = series(scalars, tags.ERROR_TEST, dataset="shapeset", activation="tanh",
                    init="normalized")
    step = int(min(tanh.index.max(), tanh_n.index.max()))
    error, error_n = tanh.loc[:step].iloc[-1], tanh_n.loc[:step].iloc[-1]
    gap = error - error_n
    return Verdict("Fig. 11", "Tanh N below Tanh (Shapeset test error)",
                   f"Tanh {error:.1f}%, Tanh N {error_n:.1f}% at {step:,} updates "
                   f"(gap {gap:.1f} points)",
                   "Tanh 60%, Tanh N 42% at 200k updates (gap 18)",
                   "reproduced: gap >= 5 points; partly: >= 1", grade(gap, 5, 1))


def first_saturation(p98: pd.Series) -> int | None:
    above = p98[p98 >= SATURATED]
    return int(above.index.min()) if len(above) else None


def tanh_saturates_layer_by_layer(scalars: pd.DataFrame) -> Verdict:
    """Fig. 3 (top): with standard init, tanh's layer 1 saturates first, then layer 2, ..."""
    p98 = layers(scalars, "act", "abs_p98", activation="tanh", init="standard")
    when = {l: first_saturation(s) for l, s in p98.items()}
    saturated = [l for l, u in when.items() if u is not None]
    in_order = saturated == list(range(1, len(saturated) + 1)) and all(
        when[a] <= when[b] for a, b in zip(saturated, saturated[1:]))
    verdict = (REPRODUCED if len(saturated) >= 2 and in_order
               else PARTLY if saturated == [1] or (saturated and in_order) else NOT)
    reached = ", ".join(f"layer {l} at {u:,}" for l, u in when.items() if u is not None) or "none"
    return Verdict("Fig. 3", "tanh (standard init) saturates layer 1 first, then 2, ...",
                   f"98th pct of |z| >= {SATURATED}: {reached}",
                   "layer 1 by 80k updates, layer 2 by 320-400k, layer 3 by 720k",
                   "reproduced: >= 2 layers saturate, in order from layer 1; partly: layer 1 only",
                   verdict)


def softsign_saturates_less(scalars: pd.DataFrame) -> Verdict:
    """Fig. 3 (bottom): softsign's layers do not reach the asymptotes and move together."""
    p98 = layers(scalars, "act", "abs_p98", activation="softsign", init="standard")
    last = {l: s.iloc[-1] for l, s in p98.items()}
    highest = max(last.values())
    step = int(next(iter(p98.values())).index.max())
    return Verdict("Fig. 3", "softsign saturates less than tanh",
                   f"98th pct of |z| at {step:,} updates: "
                   + ", ".join(f"{v:.2f}" for v in last.values()) + " (layers 1..D)",
                   "0.5-0.8 in every layer by 80k updates, none at 1",
                   f"reproduced: no layer reaches {SATURATED}", REPRODUCED if highest < SATURATED else NOT)


def softsign_knees(histograms: pd.DataFrame) -> Verdict:
    """Fig. 4 (bottom): at the end of training softsign's activations sit at the knees
    (|z| about 0.6-0.8), not at the asymptotes as tanh's do."""
    match = rows(histograms, activation="softsign", init="standard")
    last = hidden_histograms(match[match.step == match.step.max()], "act")
    knee = tail = total = 0.0
    for _, h in last.iterrows():
        right = np.asarray(h.limits, dtype=float)
        centre = np.abs(right - (right[1] - right[0]) / 2)
        counts = np.asarray(h.counts, dtype=float)
        knee += counts[(centre >= 0.5) & (centre < 0.9)].sum()
        tail += counts[centre >= 0.9].sum()
        total += counts.sum()
    knee, tail = knee / total, tail / total
    verdict = (REPRODUCED if knee >= 0.15 and knee >= 5 * tail
               else PARTLY if knee > tail else NOT)
    return Verdict("Fig. 4", "softsign's activations sit at the knees, not at +-1",
                   f"{knee:.1%} of hidden values with 0.5 <= |z| < 0.9, {tail:.1%} beyond 0.9 "
                   f"(update {int(last.step.iloc[0]):,})",
                   "modes around +-(0.6-0.8)",
                   "reproduced: knees >= 15% and >= 5x the tail; partly: knees > tail", verdict)


def layer_spread(by_layer: dict[int, pd.Series]) -> float:
    last = [s.iloc[-1] for s in by_layer.values()]
    return max(last) - min(last)


def tanh_n_resembles_softsign(scalars: pd.DataFrame) -> Verdict:
    """Fig. 10: with normalized init, tanh's layers move together (no layer-by-layer saturation)."""
    standard = layer_spread(layers(scalars, "act", "abs_p98", activation="tanh", init="standard"))
    normalized = layer_spread(layers(scalars, "act", "abs_p98", activation="tanh",
                                     init="normalized"))
    ratio = normalized / standard if standard else np.inf
    return Verdict("Fig. 10", "Tanh N's layers move together, like softsign's",
                   f"spread of the layers' 98th pct of |z| at the end: Tanh N {normalized:.2f}, "
                   f"Tanh {standard:.2f}",
                   "every Tanh N layer near 1 from 80k updates on",
                   "reproduced: Tanh N's spread <= half of Tanh's; partly: smaller",
                   REPRODUCED if ratio <= 0.5 else PARTLY if ratio < 1 else NOT)


def weight_gradients_drift_apart(scalars: pd.DataFrame) -> Verdict:
    """Fig. 9: during training the layers' weight-gradient spreads drift apart with standard init
    and stay together with normalized init."""
    def ratio(init: str) -> float:
        last = [s.iloc[-1] for s in layers(scalars, "wgrad", "batch_std", activation="tanh",
                                           init=init).values()]
        return max(last) / min(last)
    standard, normalized = ratio("standard"), ratio("normalized")
    return Verdict("Fig. 9", "weight-gradient spread: layers drift apart with standard init only",
                   f"largest / smallest layer std at the end: Tanh {standard:.1f}x, "
                   f"Tanh N {normalized:.1f}x",
                   "standard: layers apart; normalized: together",
                   "reproduced: Tanh's ratio >= 1.5x Tanh N's; partly: larger",
                   grade(standard / normalized, 1.5, 1.0 + 1e-9))


def sigmoid_top_layer_saturates_and_escapes(scalars: pd.DataFrame) -> Verdict:
    """Fig. 2 (4 hidden layers), on MNIST, where the escape comes within a CPU's reach: the top
    hidden layer drops to 0 quickly, then slowly escapes while the layer below falls. The rule
    follows the paper's own escape (paper.md §8): top 0.03 -> 0.07 (2.3x) while layer 3 falls
    from about 0.8 to 0.4. (Until the first long run, the rule asked for a top layer >= 0.2,
    which the paper's Fig. 2 itself never reaches; results/REPORT.md says so.)"""
    match = rows(scalars, activation="sigmoid", init="standard", depth=4, dataset="mnist")
    top = series(match, tags.layer("act", 4, "mean"))
    below = series(match, tags.layer("act", 3, "mean"))
    low_step = int(top.idxmin())
    low = top.min()
    later = top[top.index > low_step]
    high = later.max() if len(later) else low
    below_then = below[below.index <= low_step].iloc[-1]
    below_after = below[below.index >= low_step].min()
    fall = 1 - below_after / below_then
    saturates = top[top.index <= 40_000].min() <= 0.1
    escapes = saturates and high >= 2 * low and fall >= 0.25
    return Verdict("Fig. 2", "MNIST: sigmoid's top hidden layer saturates at 0, then escapes",
                   f"top layer mean: lowest {low:.3f} at {low_step:,} updates, highest after it "
                   f"{high:.3f} (to {int(top.index.max()):,}); layer 3 from {below_then:.2f} "
                   f"down to {below_after:.2f} ({fall:.0%})",
                   "top about 0.03 within 40k updates, then up to 0.07 while layer 3 falls "
                   "0.8 -> 0.4 (Shapeset, near 2M updates); MNIST's escape ~300k (notebook)",
                   "reproduced: <= 0.1 within 40k, then >= 2x the low while layer 3 falls by "
                   ">= 25%; partly: saturates",
                   REPRODUCED if escapes else PARTLY if saturates else NOT)


# Table 1's five rows (activation, init): a column judged with some of them missing would read
# "not" for want of runs, so the claim waits for all five.
TABLE1_ROWS = [("softsign", "standard"), ("softsign", "normalized"), ("tanh", "standard"),
               ("tanh", "normalized"), ("sigmoid", "standard")]


def mnist_column(summaries: pd.DataFrame) -> Verdict:
    """Table 1, MNIST: every tanh/softsign net near 1.6-1.8%, sigmoid worse (2.21%)."""
    mnist = rows(summaries, dataset="mnist", pretrain="none")
    by_row = mnist.groupby(["activation", "init"]).final_test_error.mean()
    missing = [f"{a} {i}" for a, i in TABLE1_ROWS if (a, i) not in by_row.index]
    if missing:
        raise Missing(f"MNIST rows not run yet: {', '.join(missing)}")
    good = by_row.drop("sigmoid", level=0, errors="ignore")
    sigmoid = by_row.get(("sigmoid", "standard"), np.nan)
    worst_good = good.max()
    verdict = (REPRODUCED if worst_good < 2.5 and sigmoid > worst_good
               else PARTLY if sigmoid > worst_good else NOT)
    return Verdict("Table 1", "MNIST: tanh/softsign nets near 1.7%, sigmoid worse",
                   ", ".join(f"{a} {i}: {v:.2f}%" for (a, i), v in by_row.items()),
                   "1.64-1.76% (tanh/softsign), 2.21% (sigmoid)",
                   "reproduced: every tanh/softsign < 2.5% and sigmoid worst; partly: sigmoid worst",
                   verdict)


CLAIMS: dict[str, tuple[str, Callable]] = {
    "tanh_n_below_tanh": ("scalars", tanh_n_below_tanh),
    "tanh_saturates_layer_by_layer": ("scalars", tanh_saturates_layer_by_layer),
    "softsign_saturates_less": ("scalars", softsign_saturates_less),
    "softsign_knees": ("histograms", softsign_knees),
    "tanh_n_resembles_softsign": ("scalars", tanh_n_resembles_softsign),
    "weight_gradients_drift_apart": ("scalars", weight_gradients_drift_apart),
    "sigmoid_top_layer_saturates_and_escapes": ("scalars", sigmoid_top_layer_saturates_and_escapes),
    "mnist_column": ("summaries", mnist_column),
}


def verdict_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every claim over the tables given ({"scalars": ..., "histograms": ..., "summaries": ...});
    a claim whose runs are absent is "not run"."""
    out = []
    for name, (kind, claim) in CLAIMS.items():
        try:
            if kind not in tables:
                raise Missing(f"no {kind} table")
            out.append(asdict(claim(tables[kind])))
        except Missing as missing:
            out.append({"figure": "", "claim": name, "measured": f"no runs ({missing})",
                        "paper": "", "rule": "", "verdict": NOT_RUN})
    return pd.DataFrame(out)
