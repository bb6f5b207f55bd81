"""Regenerate a paper artefact: run (or reuse) its runs, collect their event files, draw.

    python scripts/reproduce.py fig06                      # scale=cpu, runs in runs/fig06_cpu
    python scripts/reproduce.py fig07                      # reuses runs/fig06_cpu
    python scripts/reproduce.py fig07 --scale smoke        # seconds
    python scripts/reproduce.py fig08 --runs my/runs       # draw from your own runs, no training
    python scripts/reproduce.py fig01                      # Shapeset-3x2 samples (no runs)
    python scripts/reproduce.py table1 dataset.root=../shared/datasets   # + Hydra overrides
    python scripts/reproduce.py beyond_table               # Table 1 + the rows beyond the paper
    python scripts/reproduce.py report                     # results/REPORT.md from results/

Runs come from `python -m glorot_repro.train experiment=<experiment> scale=<scale>` (a Hydra
multirun, conf/experiment/<experiment>.yaml) into runs/<experiment>_<scale>. Artefacts that
need the same runs share them (ARTEFACTS below): Figs. 7 and 8 draw on Fig. 6's runs, Figs. 3,
4, 9 and 10 on Fig. 11's, Fig. 12 on Table 1's (MNIST and CIFAR-10 columns, each row at its
chosen learning rate, averaged over seeds). Finished runs are reused (--rerun trains them again).
At --scale long the jobs are always started, so rerunning the command resumes the unfinished ones
from their checkpoints (finished ones end at once); --draw draws the runs as they are. There,
Fig. 11's and Table 1's rows each train at the rate the pilot chose (<out>/tables/pilot_long.csv).
Figures go to <out>/figures/<artefact>.png and .pdf, tables to <out>/tables/<artefact>.md and .csv
(at --scale long: <out>/figures/long/, <out>/tables/<artefact>_long). At --scale cpu and long each run
set's tidy tables are saved as CSV in <out>/data/<scale>/<experiment>/<runs dir's name>/, and the
artefact is drawn from every run set saved there (the long runs are hours each, so sets trained
at different times, e.g. each activation's pilot, add up); with no runs, it redraws from those
CSVs alone, without training.
Figs. 1 and 5 need no runs: Shapeset samples, and cost surfaces computed directly."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

# artefact -> the experiments whose runs it draws from. Artefacts share runs where one set holds
# what they need: Figs. 6-8 come from the same at-init runs, the six runs of Fig. 11 hold Figs. 3,
# 4, 9 and 10 too, and Table 1's hold Fig. 12. The `beyond_*` artefacts set the rows of
# experiment=beyond (ReLU and softplus with He init, Tanh N after DAE pre-training) beside
# Table 1's.
ARTEFACTS = {
    "fig01": (), "fig05": (), "fig02": ("fig02",), "fig02_mnist": ("fig02_mnist",),
    "fig03": ("fig11",), "fig04": ("fig11",), "fig09": ("fig11",), "fig10": ("fig11",),
    "fig11": ("fig11",),
    "fig06": ("fig06",), "fig07": ("fig06",), "fig08": ("fig06",),
    "fig12": ("table1",), "table1": ("table1",),
    "beyond_curves": ("table1", "beyond"), "beyond_table": ("table1", "beyond"),
    # The paper's claims the long runs bear on, each measured and judged (glorot_repro/analysis/claims.py).
    "claims": ("fig11", "fig02_mnist", "table1", "escape", "diagnostic"),
    # The strict rules beside the claims' rules they replace (glorot_repro/analysis/strict.py).
    "verdicts": ("fig11", "fig02_mnist", "table1"),
    # The learning rates of the long runs, chosen on validation (glorot_repro/analysis/pilot.py).
    "pilot": ("pilot",),
    # Shapeset's pixel range and each row's rate at 200k updates (analysis/claims.py's rules), from
    # experiment=rates' runs beside the Fig. 11 set's (its [0,1] runs at the pilot's rates).
    "pixel_range": ("rates", "fig11"), "rates": ("rates", "fig11"),
    "pixel_range_curves": ("rates", "fig11"),
    # Fig. 11's rows judged against the paper's readings at 200k, 500k and 1M updates.
    "horizon": ("fig11",),
    # MNIST's 5-layer sigmoid past its plateau: each rate's run, where it left the plateau, the
    # rate chosen after the escape (analysis/claims.py), from the escape set beside Table 1's
    # sigmoid runs and the lone lr-0.01 run (results/data/long/diagnostic).
    "escape": ("escape", "table1", "diagnostic"), "escape_curves": ("escape", "table1", "diagnostic"),
    # <out>/REPORT.md, every number filled from the committed series and tables
    # (glorot_repro/analysis/report/); trains nothing.
    "report": (),
}

# At --scale long, Table 1's Shapeset column comes from the Fig. 11 set's runs (their budget),
# its MNIST column from Table 1's own.
LONG_ARTEFACTS = {"table1": ("table1", "fig11")}

STANDARD_VS_NORMALIZED = [("tanh", "standard"), ("tanh", "normalized")]
TANH_VS_SOFTSIGN = [("tanh", "standard"), ("softsign", "standard")]
ESCAPE_PANELS = {"standard": "Sigmoid", "normalized": "Sigmoid N"}
CURVE_TITLES = {"shapeset": "Shapeset-3x2, 5 hidden layers", "mnist": "MNIST, 5 hidden layers",
                "cifar10": "CIFAR-10, 5 hidden layers"}


def pilot_rates(out: Path) -> dict[tuple[str, str], float]:
    import pandas as pd

    from glorot_repro.analysis.pilot import shapeset_rates
    return shapeset_rates(pd.read_csv(out / "tables" / "pilot_long.csv"))


def draw(artefact: str, runs: list[Path], out: Path = Path("results")):
    """The artefact's figure or table, from its runs. Plotting, pandas and tbparse are imported
    here, once the runs are there: --help and the training need none of them."""
    from glorot_repro.analysis.claims import (escape_runs, escape_table, horizon_levels,
                                              pixel_range_choice, range_runs, rate_choice,
                                              verdict_table)
    from glorot_repro.analysis.collect import collect_histograms, collect_scalars, collect_summaries
    from glorot_repro.analysis.figures.histograms import layer_histogram_panels
    from glorot_repro.analysis.figures.samples import sample_grid
    from glorot_repro.analysis.figures.surfaces import cost_surfaces
    from glorot_repro.analysis.figures.training import (error_curves, mean_std_bars,
                                                        saturation_panels, weight_gradient_spread)
    from glorot_repro.analysis.labels import PIXEL_RANGES
    from glorot_repro.analysis.paper import (FIG2_TOP, FIG3_TANH, FIG10_TANH_N, FIG11, FIG12_MNIST,
                                             NOTEBOOK_LABEL, NOTEBOOK_MNIST_COST)
    from glorot_repro.analysis.pilot import pilot_table
    from glorot_repro.analysis.report import render
    from glorot_repro.analysis.strict import strict_table
    from glorot_repro.analysis.table import choose_lr, table1

    def present(tables: dict) -> dict:
        """The tables whose runs exist (a claim whose runs are absent is "not run")."""
        out = {}
        for kind, collect in tables.items():
            try:
                out[kind] = collect()
            except FileNotFoundError:
                pass
        return out

    def claim_tables() -> dict:
        """The claims' tables from the runs of the Fig. 11 set, Fig. 2 on MNIST, Table 1 and the
        MNIST sigmoid's escape."""
        return present({"scalars": lambda: collect_scalars([r for r in runs[:2] if r.exists()]),
                        "histograms": lambda: collect_histograms(runs[0]),
                        "summaries": lambda: collect_summaries(runs[2]),
                        "escape": lambda: escape_runs(dict(zip(ARTEFACTS["claims"][2:], runs[2:])))})

    def mnist_sigmoid():
        """Every MNIST 5-layer sigmoid run among the escape artefact's run sets, each named by
        its experiment (`run_set`)."""
        return escape_runs(dict(zip(ARTEFACTS["escape"], runs)))

    def at_chosen_lr():
        """The scalars of Table 1's runs at each row's chosen learning rate (every seed)."""
        scalars = collect_scalars(runs)
        return scalars[scalars.run.isin(choose_lr(collect_summaries(runs)).run)]

    def chosen_range(scalars) -> bool:
        choice = pixel_range_choice(scalars, pilot_rates(out))
        return bool(choice[choice.chosen].signed_pixels.iloc[0])

    def range_and_rates():
        scalars = collect_scalars(runs)
        return rate_choice(scalars, chosen_range(scalars)).assign(dataset="shapeset")

    drawers = {
        "fig01": lambda: sample_grid(n=32, seed=0),
        "fig05": lambda: cost_surfaces(),
        "fig02": lambda: mean_std_bars(collect_scalars(runs), "sigmoid", "standard", FIG2_TOP),
        "fig02_mnist": lambda: mean_std_bars(collect_scalars(runs), "sigmoid", "standard",
                                             cost_readings=NOTEBOOK_MNIST_COST,
                                             cost_label=NOTEBOOK_LABEL),
        "fig03": lambda: saturation_panels(collect_scalars(runs), TANH_VS_SOFTSIGN,
                                           readings={("tanh", "standard"): FIG3_TANH}),
        "fig04": lambda: layer_histogram_panels(collect_histograms(runs), "act", TANH_VS_SOFTSIGN,
                                                at="last"),
        "fig06": lambda: layer_histogram_panels(collect_histograms(runs), "act",
                                                STANDARD_VS_NORMALIZED),
        "fig07": lambda: layer_histogram_panels(collect_histograms(runs), "grad",
                                                STANDARD_VS_NORMALIZED),
        "fig08": lambda: layer_histogram_panels(collect_histograms(runs), "wgrad",
                                                STANDARD_VS_NORMALIZED),
        "fig09": lambda: weight_gradient_spread(collect_scalars(runs)),
        "fig10": lambda: saturation_panels(collect_scalars(runs), [("tanh", "normalized")],
                                           readings={("tanh", "normalized"): FIG10_TANH_N}),
        "fig11": lambda: error_curves(collect_scalars(runs),
                                      {"shapeset": CURVE_TITLES["shapeset"]}, {"shapeset": FIG11}),
        "fig12": lambda: error_curves(at_chosen_lr(), {
            d: CURVE_TITLES[d] for d in ("mnist", "cifar10")}, {"mnist": FIG12_MNIST}),
        "table1": lambda: table1(collect_summaries(runs)),
        "pilot": lambda: pilot_table(collect_scalars(runs)),
        "pixel_range": lambda: pixel_range_choice(collect_scalars(runs), pilot_rates(out)),
        "rates": range_and_rates,
        "pixel_range_curves": lambda: error_curves(
            range_runs(collect_scalars(runs), pilot_rates(out)).assign(
                dataset=lambda t: t.signed_pixels.map(PIXEL_RANGES.get)),
            {r: f"Shapeset-3x2, pixels in {r}" for r in PIXEL_RANGES.values()},
            {r: FIG11 for r in PIXEL_RANGES.values()}),
        "horizon": lambda: horizon_levels(collect_scalars(runs)),
        "escape": lambda: escape_table(mnist_sigmoid()),
        "escape_curves": lambda: error_curves(
            mnist_sigmoid().assign(dataset=lambda t: t.init.map(ESCAPE_PANELS.get)),
            {p: f"MNIST, 5 hidden layers, {p}" for p in ESCAPE_PANELS.values()},
            {ESCAPE_PANELS["standard"]: [r for r in FIG12_MNIST if r.series == "Sigmoid"]},
            by_lr=True),
        "claims": lambda: verdict_table(claim_tables()),
        "verdicts": lambda: strict_table(claim_tables()),
        "report": lambda: render(out),
        "beyond_curves": lambda: error_curves(at_chosen_lr(), CURVE_TITLES),
        "beyond_table": lambda: table1(collect_summaries(runs)),
    }
    return drawers[artefact]()


# Scales whose artefacts sit beside the cpu-scale ones rather than in their place.
SEPARATE_SCALES = ("long", "horizon", "paper")
# Scales of hours-long runs: each job its own command at its row's chosen rate, always started
# (resuming), and each run set's series saved under <out>/data/<scale>/.
LONG_SCALES = ("long", "horizon")


def write(result, out: Path, artefact: str, scale: str) -> list[Path]:
    """A figure as PNG and PDF under <out>/figures; a table as Markdown and CSV under <out>/tables;
    the report as <out>/REPORT.md.
    At the long and paper scales: <out>/figures/<scale>/<artefact>, <out>/tables/<artefact>_<scale>."""
    import pandas as pd

    from glorot_repro.analysis.figures.style import save
    from glorot_repro.analysis.table import records_markdown, to_markdown

    if isinstance(result, str):  # the report: one file at every scale, and the README's findings
        from glorot_repro.analysis.report import render_readme
        (out / "REPORT.md").write_text(result)
        readme = out.resolve().parent / "README.md"
        if readme.exists():
            readme.write_text(render_readme(readme.read_text(), out))
            return [out / "REPORT.md", readme]
        return [out / "REPORT.md"]
    separate = scale in SEPARATE_SCALES
    if isinstance(result, pd.DataFrame):
        stem = out / "tables" / (f"{artefact}_{scale}" if separate else artefact)
        stem.parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(stem.with_suffix(".csv"), index=False, float_format="%.4g")
        paper_layout = artefact in ("table1", "beyond_table")  # the others: one row per record
        stem.with_suffix(".md").write_text(to_markdown(result) if paper_layout
                                           else records_markdown(result))
        return [stem.with_suffix(".md"), stem.with_suffix(".csv")]
    return save(result, out / "figures" / (scale if separate else "") / artefact)


def series_dir(out: Path, scale: str, experiment: str) -> Path:
    """Where an experiment's run sets keep their tidy tables as CSV, a subdir each
    (collect.save_series)."""
    return out / "data" / scale / experiment


def saved_or_runs(out: Path, scale: str, experiment: str, runs: Path) -> Path:
    """The runs dir, or the experiment's saved series when no finished run is there."""
    from glorot_repro.analysis.collect import is_series_dir
    saved = series_dir(out, scale, experiment)
    return saved if is_series_dir(saved) and not any(runs.rglob("summary.json")) else runs


# Scales whose run sets keep their tidy tables as CSV under <out>/data/<scale>/ (the report reads
# them; smoke runs are throwaway).
SAVED_SCALES = ("cpu", "long", "horizon")
# Artefacts that judge runs rather than draw them: they never start training.
DRAW_ONLY = ("claims", "verdicts", "pixel_range", "rates", "pixel_range_curves", "horizon",
             "escape", "escape_curves")
# Experiments whose rows train, at --scale long, at the rate the pilot chose for each on
# validation (the paper's protocol; results/tables/pilot_long.csv), one command per job.
AT_CHOSEN_LR = ("fig11", "table1")


def rate_table(scale: str, out: Path):
    """The rates each row trains at, in pilot_table's layout: at --scale long the pilot's
    (<out>/tables/pilot_long.csv); at --scale horizon the Shapeset rows' rates and pixel range
    chosen at 200k updates (<out>/tables/rates_long.csv, reproduce.py rates) where they exist, the
    pilot's for the other rows. Exit 2 naming the file where one is missing."""
    import pandas as pd

    from glorot_repro.errors import exit_with
    needed = {"long": ["pilot_long"], "horizon": ["pilot_long", "rates_long"]}[scale]
    paths = [out / "tables" / f"{name}.csv" for name in needed]
    for path, name in zip(paths, needed):
        if not path.exists():
            exit_with(f"--scale {scale} trains each row at its chosen rate: expected {path} "
                      f"(python scripts/reproduce.py {name.split('_')[0]} --scale long), or pass "
                      f"train.lr=<rate>")
    pilot = pd.read_csv(paths[0])
    if scale == "long":
        return pilot
    rates = pd.read_csv(paths[1]).assign(dataset="shapeset")
    chosen = rates[rates.chosen.astype(bool)]
    keys = ["dataset", "activation", "init"]
    covered = pilot.set_index(keys).index.isin(chosen.set_index(keys).index)
    return pd.concat([chosen, pilot[~covered]], ignore_index=True)


def row_overrides(experiment: str, scale: str, overrides: list[str], out: Path) -> list[list[str]]:
    """The overrides of each command that trains the experiment: the experiment's own sweep, or
    at the long and horizon scales one command per job of that sweep (a value given on the
    command line, e.g. row=tanh_standard, replaces the sweep's), each at its row's chosen rate
    (rate_table; exit 2 naming the job whose row has none) and, at --scale horizon, on
    Shapeset's chosen pixel range. A rate or range given on the command line takes precedence."""
    if (scale not in LONG_SCALES or experiment not in AT_CHOSEN_LR
            or any(o.startswith("train.lr=") for o in overrides)):
        return [overrides]
    import itertools

    from glorot_repro.analysis.pilot import chosen_lr
    from glorot_repro.command.compose import compose_config
    from glorot_repro.errors import exit_with
    table = rate_table(scale, out)
    chosen_range = table[(table.dataset == "shapeset") & table.chosen.astype(bool)
                         & ~table.activation.eq("sigmoid")].signed_pixels.astype(bool)
    base = [f"experiment={experiment}", f"scale={scale}"]
    sweep = {k: str(v) for k, v in compose_config(base, hydra=True).hydra.sweeper.params.items()}
    given = dict(o.split("=", 1) for o in overrides if o.split("=", 1)[0] in sweep)
    rest = [o for o in overrides if o.split("=", 1)[0] not in sweep]
    sweep |= given
    commands = []
    for values in itertools.product(*(v.split(",") for v in sweep.values())):
        job = [f"{k}={v}" for k, v in zip(sweep, values)]
        cfg = compose_config([*base, *job, *rest])
        pixels = []
        if (scale == "horizon" and cfg.dataset.name == "shapeset" and chosen_range.nunique() == 1
                and not any(o.startswith("dataset.signed_pixels=") for o in rest)):
            pixels = [f"dataset.signed_pixels={str(chosen_range.iloc[0]).lower()}"]
            cfg = compose_config([*base, *job, *rest, *pixels])
        try:
            lr = chosen_lr(table, cfg.dataset.name, cfg.activation.name, cfg.init.name,
                           cfg.dataset.signed_pixels)
        except LookupError as e:
            exit_with(f"{' '.join(job)}: {e}; choose it first (docs/long.md)")
        commands.append([*job, *pixels, f"train.lr={lr:g}", *rest])
    return commands


def ensure_runs(experiment: str, scale: str, runs: Path, rerun: bool, draw_only: bool,
                overrides: list[str], out: Path) -> None:
    """Train the experiment's runs into `runs` unless they can be reused. At the long scale, whose
    jobs run for hours and may be stopped, the jobs are always started: unfinished ones resume from their
    last checkpoint and finished ones end at once (`draw_only` draws the runs as they are)."""
    from glorot_repro.analysis.collect import is_series_dir
    if is_series_dir(runs):
        print(f"drawing from the saved series in {runs}")
        return
    if draw_only or (scale not in LONG_SCALES and not rerun and any(runs.rglob("summary.json"))):
        print(f"drawing the runs in {runs} as they are" if draw_only else f"reusing the runs in {runs}")
        return
    for job_overrides in row_overrides(experiment, scale, overrides, out):
        cmd = [sys.executable, "-m", "glorot_repro.train", f"experiment={experiment}",
               f"scale={scale}", f"hydra.sweep.dir={runs}", *job_overrides]
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artefact", choices=sorted(ARTEFACTS))
    parser.add_argument("--scale", default="cpu", choices=["smoke", "cpu", "long", "horizon", "paper"])
    parser.add_argument("--runs", type=Path, action="append",
                        help="runs dir, once per experiment the artefact draws on (default "
                             "runs/<experiment>_<scale>, see ARTEFACTS)")
    parser.add_argument("--out", type=Path, default=Path("results"),
                        help="figures go to <out>/figures, tables to <out>/tables")
    parser.add_argument("--rerun", action="store_true", help="train again even if runs exist")
    parser.add_argument("--draw", action="store_true",
                        help="draw from the runs as they are, training nothing (e.g. long runs "
                             "still going)")
    parser.add_argument("overrides", nargs="*",
                        help="Hydra overrides for the runs, e.g. dataset.root=... or "
                             "dataset=shapeset,mnist,cifar10 (replaces the experiment's sweep)")
    args = parser.parse_intermixed_args()
    experiments = (LONG_ARTEFACTS.get(args.artefact, ARTEFACTS[args.artefact])
                   if args.scale in LONG_SCALES else ARTEFACTS[args.artefact])
    runs = args.runs or [Path("runs") / f"{e}_{args.scale}" for e in experiments]
    if len(runs) != len(experiments):
        parser.error(f"{args.artefact} draws on {len(experiments)} experiment(s) "
                     f"({', '.join(experiments) or 'none'}); got {len(runs)} --runs")
    if not args.runs and not args.rerun:
        runs = [saved_or_runs(args.out, args.scale, e, r) for e, r in zip(experiments, runs)]
    from glorot_repro.analysis.collect import is_series_dir, save_series
    drawn_from = []
    for experiment, where in zip(experiments, runs):
        ensure_runs(experiment, args.scale, where, args.rerun, args.draw or args.artefact in DRAW_ONLY,
                    args.overrides, args.out)
        if args.scale in SAVED_SCALES and not is_series_dir(where):
            saved = series_dir(args.out, args.scale, experiment)
            for path in save_series(where, saved / where.name):
                print(path)
            where = saved
        drawn_from.append(where)
    from glorot_repro.errors import exit_with
    try:
        drawing = draw(args.artefact, drawn_from, args.out)
    except FileNotFoundError as e:  # --draw, or --runs naming a dir that holds no runs
        exit_with(f"{e}: train them first (without --draw), or name their dir with --runs")
    for path in write(drawing, args.out, args.artefact, args.scale):
        print(path)


if __name__ == "__main__":
    main()
