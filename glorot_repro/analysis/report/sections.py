"""The values of each report section: one function per template in sections/, returning the
{placeholder: value} the template's prose is filled with. Every number the report shows comes
from here, computed from the committed results (data.Results), never typed."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from glorot_repro.analysis import claims, strict
from glorot_repro.analysis.collect import layer_stat
from glorot_repro.analysis.labels import PIXEL_RANGES, curve_label
from glorot_repro.analysis.paper import FIG2_TOP, FIG3_TANH, FIG11, FIG11_GAP, JACOBIAN_SV, TABLE1
from glorot_repro.analysis.pilot import LAST, shapeset_rates
from glorot_repro.analysis.report.data import Results
from glorot_repro.analysis.surfaces import cost_surface
from glorot_repro.analysis.table import P_VALUE, records_markdown, welch_p
from glorot_repro.measure import tags

Values = dict[str, object]
SECTIONS: dict[str, Callable[[Results], Values]] = {}  # results/REPORT.md, in this order
README: dict[str, Callable[[Results], Values]] = {}  # the README's generated blocks


def section(name: str, into: dict = SECTIONS):
    """Register a values function for the template sections/<name>.md (report order = this
    module's order)."""
    def register(values: Callable[[Results], Values]):
        into[name] = values
        return values
    return register


def k(update: float) -> str:
    """An update count as the report writes it: 200k, 1.2M."""
    return f"{update / 1e6:g}M" if update >= 1e6 else f"{update / 1e3:g}k"


def claim(results: Results, name: str) -> pd.Series:
    return results.claims.iloc[list(claims.CLAIMS).index(name)]


def strict_row(results: Results, name: str) -> pd.Series:
    return results.strict.set_index("name").loc[name]


def verdicts(results: Results, old: str, new: str) -> Values:
    """The lenient verdict (claims.py) and the strict one (strict.py) of one claim, with rules."""
    o, n = claim(results, old), strict_row(results, new)
    return {"old_verdict": o.verdict, "old_rule": o.rule, "old_measured": o.measured,
            "verdict": n.verdict, "rule": n.rule, "measured": n.measured, "why": n.why}


def at_updates(scalars: pd.DataFrame, rows: dict[str, tuple[str, str]], updates) -> str:
    """A Markdown table: one row per {label: (tag, format)}, the mean over runs of the last
    evaluation at or before each update."""
    head = "| updates | " + " | ".join(k(u) for u in updates) + " |"
    lines = [head, "|---" * (len(updates) + 1) + "|"]
    for label, (tag, fmt) in rows.items():
        curve = claims.series(scalars, tag)
        lines.append(f"| {label} | " + " | ".join(format(curve.loc[:u].iloc[-1], fmt)
                                                  for u in updates) + " |")
    return "\n".join(lines)


def reading(readings, series: str, update: int) -> float:
    return next(r.value for r in readings if r.series == series and r.update == update)


@section("summary")
def summary(results: Results) -> Values:
    table = results.strict.set_index("name")
    return {"strict_" + name: table.verdict[name] for name in table.index} | {
        "fig2_mnist": claim(results, "sigmoid_top_layer_saturates_and_escapes").verdict,
        "fig11_levels": fig11(results)["levels_short"],
        "gap_500k": claim(results, "tanh_gap_at_horizon").verdict,
        "escape": claim(results, "mnist_sigmoid_escape").verdict}


@section("fig01")
def fig01(results: Results) -> Values:
    return {}


@section("fig02")
def fig02(results: Results) -> Values:
    mnist = claims.rows(results.fig02_mnist, dataset="mnist")
    shapeset = claims.rows(results.fig02, dataset="shapeset")
    top, below = tags.layer("act", 4, "mean"), tags.layer("act", 3, "mean")
    rows = {"layer 4 (top) mean": (top, ".3f"), "layer 3 mean": (below, ".3f"),
            "training cost (NLL)": (tags.LOSS_TRAIN, ".3f"), "test error %": (tags.ERROR_TEST, ".2f")}
    mnist_top, shapeset_top = claims.series(mnist, top), claims.series(shapeset, top)
    old = claim(results, "sigmoid_top_layer_saturates_and_escapes")
    return {
        "mnist_table": at_updates(mnist, rows, (40_000, 100_000, 250_000, 300_000, 320_000,
                                                350_000, 400_000)),
        "mnist_end": k(mnist_top.index.max()),
        "mnist_measured": old.measured, "mnist_rule": old.rule, "mnist_verdict": old.verdict,
        "mnist_runs": mnist.run.nunique(),
        "shapeset_table": at_updates(shapeset, {**rows, "layer 1 mean": (tags.layer("act", 1, "mean"),
                                                                           ".3f")},
                                     (40_000, 100_000, 200_000, 300_000, 400_000, 540_000)),
        "shapeset_end": k(shapeset_top.index.max()),
        "shapeset_top_40k": shapeset_top.loc[:40_000].iloc[-1],
        "shapeset_top_end": shapeset_top.iloc[-1],
        "shapeset_error_end": claims.series(shapeset, tags.ERROR_TEST).iloc[-1],
        "paper_top_40k": reading(FIG2_TOP, "Layer 4", 40_000),
        "paper_top_escape": reading(FIG2_TOP, "Layer 4", 2_800_000),
        "paper_still": k(1_940_000), "paper_escape": k(2_800_000)}


@section("fig03")
def fig03(results: Results) -> Values:
    scalars = results.fig11
    tanh = claims.layers(scalars, "act", "abs_p98", activation="tanh", init="standard")
    soft = claims.layers(scalars, "act", "abs_p98", activation="softsign", init="standard")
    end = int(next(iter(tanh.values())).index.max())
    return {**verdicts(results, "tanh_saturates_layer_by_layer", "tanh_layer_by_layer"),
            **{f"soft_{key}": v for key, v in verdicts(results, "softsign_saturates_less",
                                                       "softsign_band").items()},
            "end": k(end),
            "tanh_upper_end": ", ".join(f"{s.iloc[-1]:.2f}" for l, s in tanh.items() if l >= 3),
            "soft_end": ", ".join(f"{s.iloc[-1]:.2f}" for s in soft.values()),
            "paper": ", ".join(f"layer {r.series.split()[-1]} by {k(r.update)}" for r in FIG3_TANH)}


@section("fig04")
def fig04(results: Results) -> Values:
    return verdicts(results, "softsign_knees", "softsign_knees_per_seed")


@section("fig05")
def fig05(results: Results) -> Values:
    nll, quadratic = cost_surface("nll").cost, cost_surface("quadratic").cost
    return {"nll_low": float(nll.min()), "nll_high": float(nll.max()),
            "quad_low": float(quadratic.min()), "quad_high": float(quadratic.max())}


@section("fig06_08")
def fig06_08(results: Results) -> Values:
    scalars = results.at_init
    out: Values = {}
    for init in ("standard", "normalized"):
        match = claims.rows(scalars, init=init, step=0)
        grad = layer_stat(match, "grad", "std")
        wgrad = layer_stat(match, "wgrad", "std")
        jac = layer_stat(match, "jacobian", "mean_sv")
        out[f"{init}_grad"] = " | ".join(f"{s.iloc[0]:.3g}" for s in grad.values())
        out[f"{init}_wgrad"] = " | ".join(f"{s.iloc[0]:.3g}" for s in wgrad.values())
        out[f"{init}_jac"] = " | ".join(f"{s.iloc[0]:.3f}" for s in jac.values())
        out[f"{init}_shrink"] = grad[max(grad)].iloc[0] / grad[1].iloc[0]
        out[f"{init}_jac_mean"] = float(np.mean([s.iloc[0] for s in jac.values()]))
        out[f"{init}_jac_paper"] = JACOBIAN_SV[init]
        out[f"{init}_wgrad_spread"] = (max(s.iloc[0] for s in wgrad.values())
                                       / min(s.iloc[0] for s in wgrad.values()))
    return out


@section("fig09")
def fig09(results: Results) -> Values:
    return verdicts(results, "weight_gradients_drift_apart", "weight_gradients_apart")


@section("fig10")
def fig10(results: Results) -> Values:
    p98 = claims.layers(results.fig11, "act", "abs_p98", activation="tanh", init="normalized")
    crossing = {l: claims.first_saturation(s) for l, s in p98.items()}
    return {**verdicts(results, "tanh_n_resembles_softsign", "tanh_n_together"),
            "saturated": claims.SATURATED,
            "crossings": ", ".join(f"layer {l} at {k(u)}" for l, u in crossing.items() if u)}


def per_run_table(results: Results) -> str:
    """Test error (%) of each Fig. 11 run at 50k, 100k, 150k, its end and over its last LAST
    evaluations."""
    runs = results.fig11_summaries.sort_values(["activation", "init", "seed"])
    scalars = results.fig11[results.fig11.tag == tags.ERROR_TEST]
    lines = ["| run | seed | lr | updates | at 50k | at 100k | at 150k | final | mean of the last "
             f"{LAST} evaluations |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs.itertuples():
        curve = scalars[scalars.run == r.run].groupby("step").value.mean().sort_index()
        at = " | ".join(f"{curve.loc[:u].iloc[-1]:.1f}" for u in (50_000, 100_000, 150_000))
        lines.append(f"| {curve_label(r.activation, r.init)} (depth {r.depth}) | {r.seed} | {r.lr:g}"
                     f" | {r.updates:,} | {at} | {r.final_test_error:.2f} | "
                     f"{curve.iloc[-LAST:].mean():.2f} |")
    return "\n".join(lines)


@section("fig11")
def fig11(results: Results) -> Values:
    update = claims.HORIZON_UPDATES[0]
    levels = claims.horizon_levels(results.fig11, (update,))
    shown = levels.drop(columns="update").astype(object).fillna("—")
    pair = claims.row_errors(claims.rows(results.fig11, dataset="shapeset"), update,
                             claims.GAP_ROWS)
    gap = claims.tanh_gap_at_horizon.__name__
    judged = levels[levels.verdict != claims.NOT_RUN]
    return {**verdicts(results, "tanh_n_below_tanh", "fig11_at_200k"),
            "update": k(update), "levels": records_markdown(shown).rstrip("\n"),
            "levels_short": ", ".join(f"{r.row} {r.verdict}" for r in judged.itertuples()),
            "level_points": claims.LEVEL_POINTS, "level_seeds": claims.LEVEL_SEEDS,
            "runs": per_run_table(results),
            "gap": pair["Tanh"].mean() - pair["Tanh N"].mean(),
            "gap_p": welch_p(pair["Tanh"], pair["Tanh N"]),
            "paper_gap": reading(FIG11, "Tanh", update) - reading(FIG11, "Tanh N", update),
            "paper_gap_180k": reading(FIG11_GAP, "Tanh - Tanh N", 180_000),
            "gap_points": claims.GAP_POINTS, "gap_test": claims.GAP_P,
            "gap_verdict": claim(results, gap).verdict,
            "gap_at": k(claims.GAP_AT)}


@section("table1")
def table1(results: Results) -> Values:
    mnist = results.table1
    per_seed = "; ".join(
        f"{curve_label(a, i)} "
        + ", ".join(f"{e:.2f}" for e in cell.sort_values("seed").final_test_error)
        for (a, i), cell in mnist.groupby(["activation", "init"]))
    diag = results.diagnostic
    diag_error = claims.series(diag, tags.ERROR_TEST)
    sigmoid_n = mnist[(mnist.activation == "sigmoid") & (mnist.init == "normalized")]
    escape = results.table("escape_long")
    escape = escape[(escape.run_set == "table1") & (escape.init == "normalized")]
    return {**verdicts(results, "mnist_column", "mnist_rows"),
            "table": results.markdown("table1_long"), "p_value": P_VALUE,
            "per_seed": per_seed, "mnist_updates": f"{int(mnist.updates.max()):,}",
            "sigmoid_paper": TABLE1[("sigmoid", "standard")]["mnist"],
            "sigmoid_n_seeds": ", ".join(f"{e:.2f}" for e in sigmoid_n.final_test_error),
            "sigmoid_n_left": f"{int(escape.left_plateau_at.notna().sum())} of {len(escape)}",
            "escape_below": claims.ESCAPE_BELOW,
            "diag_lr": float(diag.lr.iloc[0]), "diag_end": k(diag_error.index.max()),
            "diag_error_low": diag_error[diag_error.index > 0].min(),
            "diag_error_high": diag_error[diag_error.index > 0].max(),
            "diag_loss_end": claims.series(diag, tags.LOSS_TRAIN).iloc[-1],
            "ln10": float(np.log(10))}


@section("rates")
def rates(results: Results) -> Values:
    pilot = results.table("pilot_long")
    lrs = sorted(pilot.lr.unique())
    lines = ["| dataset | pixels | row | " + " | ".join(f"{lr:g}" for lr in lrs) + " | chosen |",
             "|---" * (len(lrs) + 4) + "|"]
    for (dataset, signed, a, i), row in pilot.groupby(["dataset", "signed_pixels", "activation",
                                                        "init"]):
        by_lr = row.set_index("lr")
        cells = [("**{:.2f}**" if by_lr.chosen.get(lr, False) else "{:.2f}").format(
                     by_lr.valid_error[lr]) if lr in by_lr.index else "" for lr in lrs]
        chosen = by_lr[by_lr.chosen]
        note = " (grid edge)" if chosen.edge.iloc[0] else ""
        lines.append(f"| {dataset} | {'[-1,1]' if signed else '[0,1]'} | {curve_label(a, i)} | "
                     + " | ".join(cells) + f" | {chosen.index[0]:g}{note} |")
    return {"table": "\n".join(lines), "last": LAST, "updates": k(pilot.updates.max())}




def range_part(results: Results) -> str:
    """The pixel-range choice and the rates chosen on it, as far as their runs have gone."""
    if results.rates is None:
        return "Not run yet: no series under `results/data/long/rates/`."
    scalars = pd.concat([results.rates, results.fig11], ignore_index=True)
    choice = claims.pixel_range_choice(scalars, shapeset_rates(results.table("pilot_long")))
    chosen = bool(choice[choice.chosen].signed_pixels.iloc[0])
    counts = {PIXEL_RANGES[bool(s)]: ", ".join(f"{(t.verdict == v).sum()} {v}"
                                              for v in (claims.REPRODUCED, claims.PARTLY))
              for s, t in choice.groupby("signed_pixels")}
    shown = choice.assign(pixels=choice.signed_pixels.map(PIXEL_RANGES)).drop(
        columns=["signed_pixels", "chosen"])
    text = [f"Each range at the pilot's rates, one seed a row, cell by cell "
            f"(`python scripts/reproduce.py pixel_range --scale long`, "
            f"`results/tables/pixel_range_long.md`):", "",
            records_markdown(shown[["pixels", *shown.columns[:-1]]]).rstrip("\n"), "",
            "Cells per range: " + "; ".join(f"{r}: {c}" for r, c in counts.items())
            + f". **Chosen by the rule: {PIXEL_RANGES[chosen]}.** Summed distance to the readings: "
            + "; ".join(f"{PIXEL_RANGES[bool(s)]} {t.distance.sum():.1f} points"
                        for s, t in choice.groupby("signed_pixels"))
            + f" ({k(claims.RANGE_UPDATES[-1])} alone: "
            + "; ".join(f"{PIXEL_RANGES[bool(s)]} {t.distance.sum():.1f}" for s, t in choice[
                choice["update"] == claims.RANGE_UPDATES[-1]].groupby("signed_pixels"))
            + "). The rule counts a row on the paper's side of its neighbours as partly however "
            "far it lies, and reads the early band at 50k as much as the 200k readings; the "
            "choice stands as the rule made it, and this is where the rule is weakest.", "",
            "![Both ranges, 200k updates](figures/long/pixel_range_curves.png)"]
    rates = claims.rate_choice(scalars, chosen)
    swept = rates.groupby(["activation", "init"]).lr.transform("nunique") > 1  # rows with neighbours
    if swept.any():
        shown = rates[swept].assign(row=lambda r: [curve_label(a, i) for a, i in
                                                   zip(r.activation, r.init)],
                                    pixels=PIXEL_RANGES[chosen])
        text += ["", "Rates on the chosen range (validation error averaged over the last "
                 f"{claims.RATE_LAST} evaluations; `python scripts/reproduce.py rates --scale long`):",
                 "", records_markdown(shown[["row", "pixels", "lr", "updates", "valid_error",
                                             "chosen"]]).rstrip("\n")]
        pilot = shapeset_rates(results.table("pilot_long"))
        picks = shown[shown.chosen.astype(bool)]
        moved = [f"{r.row} {pilot[(r.activation, r.init)]:g} -> {r.lr:g}"
                 for r in picks.itertuples() if r.lr != pilot[(r.activation, r.init)]]
        kept = [r.row for r in picks.itertuples() if r.lr == pilot[(r.activation, r.init)]]
        text += ["", f"At 200k updates the rule keeps the 30k-update pilot's rate for "
                 f"{', '.join(kept) or 'no row'}"
                 + (f"; it moves {', '.join(moved)}." if moved else ".")]
    else:
        text += ["", "The rates' neighbours on the chosen range are not run yet."]
    return "\n".join(text)


@section("horizon")
def horizon(results: Results) -> Values:
    return {"level_points": claims.LEVEL_POINTS, "level_seeds": claims.LEVEL_SEEDS,
            "horizon_updates": ", ".join(k(u) for u in claims.HORIZON_UPDATES),
            "gap_at": k(claims.GAP_AT), "gap_points": claims.GAP_POINTS,
            "gap_test": claims.GAP_P, "rate_last": claims.RATE_LAST,
            "range_part": range_part(results)}


# The rows' config names (conf/row/) as the escape set's commands give them.
ROW_NAMES = {"standard": "sigmoid_standard", "normalized": "sigmoid_normalized"}


def escape_rows(table: pd.DataFrame) -> str:
    """One sentence per row of the escape table: its chosen rate, or that no run left."""
    out = []
    for init, row in table.groupby("init"):
        name = curve_label("sigmoid", init)
        chosen = row[row.chosen.astype(bool)]
        if chosen.empty:
            out.append(f"- **{name}:** no run left the plateau (rates "
                       + ", ".join(f"{r.lr:g} seed {r.seed} to {k(r.updates)}"
                                   for r in row.itertuples())
                       + "), so no rate is chosen.")
            continue
        c = chosen.iloc[0]
        out.append(f"- **{name}:** lr {c.lr:g} chosen: it left the plateau at "
                   f"{k(c.left_plateau_at)} updates; validation {c.valid_error:.2f}%, test "
                   f"{c.test_error:.2f}% (last {claims.RATE_LAST} evaluations to "
                   f"{k(c.averaged_to)}).")
    return "\n".join(out)


def escape_short(table: pd.DataFrame) -> str:
    """The standard-init runs of the escape table in a few words each."""
    runs = table[table.init == "standard"].sort_values(["lr", "seed"])
    seeds = runs.groupby("lr").seed.transform("nunique")
    return "; ".join(
        f"lr {r.lr:g}" + (f" seed {r.seed}" if n > 1 else "")
        + (f": left at {k(r.left_plateau_at)}, test {r.test_error:.2f}% at {k(r.averaged_to)}"
           if pd.notna(r.left_plateau_at) else f": on the plateau to {k(r.updates)}")
        for r, n in zip(runs.itertuples(), seeds))


@section("escape")
def escape(results: Results) -> Values:
    table = results.table("escape_long")
    ran = table[table.run_set == "escape"]
    verdict = claim(results, "mnist_sigmoid_escape")
    commands = [f"python -m glorot_repro.train +row={ROW_NAMES[r.init]} train.lr={r.lr:g} "
                f"dataset=mnist dataset.root=<datasets> scale=long train.updates={r.updates} "
                f"log.progress=false hydra.run.dir=<runs>/mnist_sigmoid/{ROW_NAMES[r.init]}_{r.lr:g}"
                for r in ran.itertuples()]
    before = table[(table.run_set != "escape") & (table.init == "standard")]
    left = before.left_plateau_at.notna().sum()
    before_text = (f"stayed on its plateau, the error of always answering the most frequent class, "
                   f"in every run up to {k(before.updates.max())} updates" if left == 0 else
                   f"left its plateau in {left} of {len(before)} runs")
    shown = table.assign(row=[curve_label("sigmoid", i) for i in table.init],
                         left_plateau_at=table.left_plateau_at.astype("Int64"))[
        ["row", "lr", "seed", "run_set", "updates", "left_plateau_at", "averaged_to",
         "valid_error", "test_error", "chosen"]]
    return {"paper": TABLE1[("sigmoid", "standard")]["mnist"], "before": before_text,
            "escape_below": claims.ESCAPE_BELOW, "escape_by": k(claims.ESCAPE_BY),
            "rate_last": claims.RATE_LAST, "table": records_markdown(shown).rstrip("\n"),
            "rows": escape_rows(table), "measured": verdict.measured, "rule": verdict.rule,
            "verdict": verdict.verdict, "commands": "\n".join(commands)}


@section("verdicts")
def verdict_tables(results: Results) -> Values:
    f2 = fig02(results)
    return {"claims": records_markdown(results.claims).rstrip("\n"),
            "strict": records_markdown(results.strict).rstrip("\n"),
            "paper_top_escape": f2["paper_top_escape"], "paper_escape": f2["paper_escape"]}


@section("checklist")
def checklist(results: Results) -> Values:
    compute = results.compute
    wall_s = compute.wall_s.fillna(0).sum()
    return {"p_value": P_VALUE, "seeds_p": strict.SEEDS_P, "level_points": claims.LEVEL_POINTS,
            "level_seeds": claims.LEVEL_SEEDS, "mnist_level": strict.MNIST_LEVEL_POINTS,
            "last": LAST, "hours": wall_s / 3600,
            "unlogged": int(compute.wall_s.isna().sum()), "run_sets": len(compute),
            "nets": int(compute.nets.sum())}


@section("compute")
def compute(results: Results) -> Values:
    table = results.compute.astype(object).assign(wall_s=lambda t: t.wall_s.map(
        lambda s: "" if pd.isna(s) else f"{s:,.0f}"))
    return {"table": records_markdown(table.fillna("")).rstrip("\n")}


# The run set whose speed the horizon's budget is judged by (results/data/compute.csv): nets
# trained alone, one at a time in each of its processes, nothing else running beside them.
SPEED_SET = "long/rates/rates_unsigned_lr"
JOB_HOURS = 2.5  # the longest a job may run on the machines these results came from
PAPER_UPDATES = 2_500_000  # the paper's Fig. 11 axis: 25M examples of minibatch 10
MNIST_HORIZON_NETS = 3  # Table 1's MNIST sigmoid rows at 1M updates: Sigmoid 2 seeds, Sigmoid N 1


@section("out_of_reach")
def out_of_reach(results: Results) -> Values:
    speed = results.compute.set_index("run_set").loc[SPEED_SET]
    rate = speed.nets * speed.updates / (speed.processes * speed.wall_s)
    horizon = claims.HORIZON_UPDATES[-1]
    return {"fig02_end": fig02(results)["shapeset_end"], "speed_set": SPEED_SET,
            "nets": int(speed.nets), "updates": k(speed.updates), "wall": int(speed.wall_s),
            "processes": int(speed.processes), "rate": rate, "job_hours": JOB_HOURS,
            "horizon": k(horizon), "paper": f"{PAPER_UPDATES / 1e6:g}M",
            "hours_horizon": horizon / rate / 3600, "hours_paper": PAPER_UPDATES / rate / 3600,
            "need_horizon": horizon / (JOB_HOURS * 3600),
            "need_paper": PAPER_UPDATES / (JOB_HOURS * 3600),
            "paper_updates": PAPER_UPDATES,
            "mnist_nets": MNIST_HORIZON_NETS,
            "mnist_hours": MNIST_HORIZON_NETS * horizon / rate / 3600}


def cell(text: str) -> str:
    """Text for a Markdown table cell: a | (as in |z|) would split it."""
    return text.replace("|", "\\|")


@section("findings", into=README)
def findings(results: Results) -> Values:
    """The README's findings: the headline numbers of the report's sections."""
    at_init, f2, f3, f11, t1 = (fig06_08(results), fig02(results), fig03(results),
                                fig11(results), table1(results))
    levels = claims.horizon_levels(results.fig11, (claims.HORIZON_UPDATES[0],)).set_index("row")
    table = results.strict.set_index("name").verdict
    mnist = results.table("table1_long")
    mnist = mnist[mnist.dataset == "mnist"]
    good = mnist[mnist.activation != "sigmoid"]["mean"]
    sigmoid = mnist[(mnist.activation == "sigmoid") & (mnist.init == "standard")]["mean"].iloc[0]
    paper_good = [TABLE1[r]["mnist"] for r in claims.TABLE1_ROWS if r[0] != "sigmoid"]
    signed = claims.range_runs(results.rates, shapeset_rates(results.table("pilot_long")))
    signed = signed[signed.signed_pixels.astype(bool)]
    at_200k = {name: claims.errors_at(signed, claims.RANGE_UPDATES[-1], *claims.FIG11_ROWS[row])[0]
               for name, row in (("signed_tanh", "Tanh"), ("signed_tanh_n", "Tanh N"),
                                 ("signed_softsign", "Softsign"))}
    return {**at_200k, "standard_shrink": at_init["standard_shrink"],
            "normalized_shrink": at_init["normalized_shrink"],
            "fig2_measured": f2["mnist_measured"], "fig2_verdict": f2["mnist_verdict"],
            **{key: f2[key] for key in ("paper_top_40k", "paper_top_escape", "paper_escape")},
            "fig3_measured": cell(f3["measured"]), "fig3_verdict": table["tanh_layer_by_layer"],
            "fig9_measured": cell(fig09(results)["measured"]),
            "fig10_measured": cell(fig10(results)["measured"]),
            "fig3_paper": f3["paper"],
            **{f"{name}_{col}": levels.loc[row, col] for name, row in (("tanh", "Tanh"),
               ("tanh_n", "Tanh N"), ("softsign", "Softsign")) for col in ("ours", "std", "paper")},
            "gap": f11["gap"], "gap_p": f11["gap_p"], "fig11_verdict": table["fig11_at_200k"],
            "fig10_verdict": table["tanh_n_together"],
            "fig9_verdict": table["weight_gradients_apart"],
            "mnist_low": good.min(), "mnist_high": good.max(), "sigmoid": sigmoid,
            "paper_mnist_low": min(paper_good), "paper_mnist_high": max(paper_good),
            "paper_sigmoid": TABLE1[("sigmoid", "standard")]["mnist"],
            "mnist_verdict": table["mnist_rows"], "table": t1["table"],
            "escape_measured": escape_short(results.table("escape_long")),
            "escape_verdict": claim(results, "mnist_sigmoid_escape").verdict,
            "mnist_updates": t1["mnist_updates"]}
