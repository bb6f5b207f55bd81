"""Figures drawn from runs during training: per-layer statistics against updates (Figs. 2, 3, 9,
10) and test error against examples seen (Figs. 11, 12)."""
from __future__ import annotations

import pandas as pd
from matplotlib.ticker import FuncFormatter

from glorot_repro.analysis.collect import layer_stat
from glorot_repro.analysis.figures.style import INIT_LINESTYLES, layer_color, plt
from glorot_repro.analysis.labels import (ACTIVATION_NAMES, DATASET_NAMES, INIT_SUFFIXES, ROW_KEYS,
                                          curve_label)
from glorot_repro.analysis.paper import Reading
from glorot_repro.measure import tags

# Every row's curve label, whether or not a figure's runs have it.
ROW_LABELS = {curve_label(a, i) for a in ACTIVATION_NAMES for i in INIT_SUFFIXES}


def select(scalars: pd.DataFrame, activation: str, init: str) -> pd.DataFrame:
    rows = scalars[(scalars.activation == activation) & (scalars.init == init)]
    if rows.empty:
        raise ValueError(f"no runs with activation={activation}, init={init} in the table")
    return rows


def draw_readings(ax, readings: list[Reading], x_per_update: float, colors: dict[str, str],
                  mirror: bool = False, label: str | None = None) -> None:
    """The paper's readings (paper.py) as hollow diamonds in the colour of our matching curve,
    labelled once "paper (read off Fig. N)". Only readings within our runs' x range are drawn
    (the paper's curves run to 2.5M updates); when none is, a note says where the first one is.
    mirror: also draw -value (Figs. 3, 10's +-percentile markers); label: where the readings
    come from, if not the paper's figure."""
    if not readings:
        return
    figure = readings[0].figure
    right = ax.dataLim.x1
    inside = [r for r in readings if r.update * x_per_update <= right * 1.05]
    source = label or f"paper (Fig. {figure})"
    label = label or f"paper (read off Fig. {figure})"
    for r in inside:
        for sign in ((1, -1) if mirror else (1,)):
            ax.plot(r.update * x_per_update, sign * r.value, "D", ms=7, mfc="none", mew=1.5,
                    color=colors.get(r.series, "black"), label=label)
            label = None
    if not inside:
        first = min(r.update for r in readings)
        ax.text(0.01, 0.01, f"{source}: first reading at {first:,} updates, "
                f"beyond these runs", transform=ax.transAxes, fontsize=7, va="bottom")


def mean_std_bars(scalars: pd.DataFrame, activation: str, init: str,
                  readings: list[Reading] = (), cost_readings: list[Reading] | None = None,
                  cost_label: str | None = None) -> plt.Figure:
    """Fig. 2: mean (line) and standard deviation (bars) of each hidden layer's activations
    during training, on the probe set. With `cost_readings`, a second panel below: the training
    cost, where the escape from saturation shows as the fall from ln 10 = 2.30, beside those
    readings (labelled `cost_label`)."""
    rows = select(scalars, activation, init)
    means, stds = layer_stat(rows, "act", "mean"), layer_stat(rows, "act", "std")
    if cost_readings is None:
        fig, ax = plt.subplots(figsize=(7.5, 3.5))
    else:
        fig, (ax, cost_ax) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True)
        cost = rows[rows.tag == tags.LOSS_TRAIN].groupby("step").value.mean()
        cost_ax.plot(cost.index / 1000, cost.values, color="black", label="ours: training cost")
        draw_readings(cost_ax, cost_readings, 1 / 1000, {}, label=cost_label)
        cost_ax.set_xlabel("updates (thousands)")
        cost_ax.set_ylabel("cost (NLL)")
        cost_ax.legend(fontsize=8)
    for layer, mean in means.items():
        ax.errorbar(mean.index / 1000, mean.values, yerr=stds[layer].values, capsize=2,
                    color=layer_color(layer), label=f"Layer {layer}")
    draw_readings(ax, list(readings), 1 / 1000, layer_colors(means))
    if cost_readings is None:
        ax.set_xlabel("updates (thousands)")
    ax.set_ylabel("activation value")
    ax.set_title(f"{curve_label(activation, init)}, {rows.depth.iloc[0]} hidden layers, "
                 f"{DATASET_NAMES[rows.dataset.iloc[0]]}", fontsize=10)
    # Outside the axes: inside, it covers the paper's early readings near the layer-4 curve.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def layer_colors(by_layer: dict[int, pd.Series]) -> dict[str, str]:
    return {f"Layer {layer}": layer_color(layer) for layer in by_layer}


def saturation_panels(scalars: pd.DataFrame, panels: list[tuple[str, str]],
                      percentile: str = "abs",
                      readings: dict[tuple[str, str], list[Reading]] | None = None) -> plt.Figure:
    """Figs. 3 and 10: per layer, the 98th percentiles of the activations (markers alone) and
    their standard deviation (lines), during training; one panel per (activation, init).

    percentile="abs" draws +-(98th percentile of |z|), the paper's markers, which mirror each
    other about 0 (docs/paper.md §6); "signed" draws the 2nd and 98th percentiles of z."""
    tails = {"abs": (("abs_p98", 1), ("abs_p98", -1)), "signed": (("p98", 1), ("p02", 1))}[percentile]
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.5, 3.2 * len(panels)), sharex=True,
                             squeeze=False)
    for ax, (activation, init) in zip(axes[:, 0], panels):
        rows = select(scalars, activation, init)
        stds = layer_stat(rows, "act", "std")
        markers = [(layer_stat(rows, "act", stat), sign) for stat, sign in tails]
        for layer, std in stds.items():
            color = layer_color(layer)
            ax.plot(std.index / 1000, std.values, "-", color=color, label=f"Layer {layer}")
            for by_layer, sign in markers:
                ax.plot(by_layer[layer].index / 1000, sign * by_layer[layer].values, "o", ms=3,
                        color=color)
        draw_readings(ax, (readings or {}).get((activation, init), []), 1 / 1000,
                      layer_colors(stds), mirror=percentile == "abs")
        what = "+-98th percentile of |z|" if percentile == "abs" else "2nd and 98th percentiles"
        ax.set_title(f"{curve_label(activation, init)}: {what} (markers), standard deviation "
                     f"(lines)", fontsize=10)
        ax.set_ylabel("activation value")
        ax.legend(fontsize=8, ncol=3)
    axes[-1, 0].set_xlabel("updates (thousands)")
    fig.tight_layout()
    return fig


def weight_gradient_spread(scalars: pd.DataFrame, activation: str = "tanh",
                           stat: str = "batch_std") -> plt.Figure:
    """Fig. 9: standard deviation of each hidden layer's weight gradients during training,
    standard (top) vs normalized init (bottom). stat="batch_std" is the spread of minibatch
    gradients as SGD sees them (probes.minibatch_wgrad_std); "std" that of the gradient of the
    mean cost over the whole probe set."""
    fig, axes = plt.subplots(2, 1, figsize=(6.5, 6), sharex=True)
    for ax, init in zip(axes, ("standard", "normalized")):
        rows = select(scalars, activation, init)
        for layer, std in layer_stat(rows, "wgrad", stat).items():
            ax.plot(std.index / 1000, std.values, color=layer_color(layer), label=f"Layer {layer}")
        ax.set_yscale("log")
        over = "minibatch gradients" if stat == "batch_std" else "the probe-set gradient"
        ax.set_title(f"{curve_label(activation, init)}: std of dC/dW per layer ({over})",
                     fontsize=10)
        ax.set_ylabel("std of weight gradient")
        ax.legend(fontsize=8, ncol=3)
    axes[-1].set_xlabel("updates (thousands)")
    fig.tight_layout()
    return fig


def error_curves(scalars: pd.DataFrame, titles: dict[str, str],
                 readings: dict[str, list[Reading]] | None = None,
                 by_lr: bool = False) -> plt.Figure:
    """Figs. 11, 12: test error against examples seen, one panel per dataset named in `titles`
    (those present in the table), one curve per row (ROW_KEYS) averaged over the runs it has
    (seeds), the legend ordered by final error (best first), as in the paper. Pre-trained runs
    log fine-tuning after their pre-training steps, so their curves start late: the x axis
    counts pre-training examples too (paper Fig. 11). `by_lr`: one curve per row and learning
    rate, the paper's readings in black."""
    test = scalars[(scalars.tag == tags.ERROR_TEST) & scalars.dataset.isin(titles)]
    datasets = [d for d in titles if d in set(test.dataset)]
    if not datasets:
        raise ValueError(f"no error/test curves for the datasets {', '.join(titles)}")
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        curves = []
        for row, rows in test[test.dataset == dataset].groupby(ROW_KEYS + ["lr"] * by_lr):
            by_step = rows.groupby("step").value.mean()
            label = curve_label(*row[:3]) + (f", lr {row[3]:g}" if by_lr else "")
            curves.append((by_step.iloc[-1], label, by_step, int(rows.batch_size.iloc[0]), row[1]))
        colors = {}
        for final, label, by_step, batch, init in sorted(curves, key=lambda c: c[0]):
            # One line style per init, so a curve lying under another (Sigmoid N under Sigmoid,
            # both at the class prior) still shows.
            (line,) = ax.plot(by_step.index * batch / 1e6, by_step.values,
                              INIT_LINESTYLES.get(init, "-."), label=f"{label} ({final:.2f}%)")
            colors[label] = line.get_color()
        # The paper's x axis is examples seen: 10 per update (its minibatch). A reading of a
        # row these runs lack (Sigmoid, before its run) is left out; one of a group of rows
        # ("Tanh/Softsign (all)") is drawn in black.
        rows_read = [r for r in (readings or {}).get(dataset, [])
                     if by_lr or r.series in colors or r.series not in ROW_LABELS]
        draw_readings(ax, rows_read, 10 / 1e6, colors)
        ax.set_xlabel("examples seen (millions)")
        # Log scale where errors span more than a factor of 3: a net stuck at chance (~90% on
        # MNIST) and nets at a few percent then share a panel without flattening the differences
        # between the good ones.
        values = pd.concat([c[2] for c in curves])
        if values.max() > 3 * values.min():
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(
                lambda v, _: f"{v:g}" if str(round(v))[0] in "2357" else ""))
        ax.set_ylabel("test error (%)" + (", log scale" if ax.get_yscale() == "log" else ""))
        ax.set_title(titles[dataset], fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
