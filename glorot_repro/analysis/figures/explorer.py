"""The init explorer's figure: per-layer standard deviations at initialisation against depth, one
panel per quantity, one colour per (activation, init): measured (solid, markers) beside the
variance analysis' prediction (dashed), on a log scale where a constant factor per layer is a
straight line (eq. 13: (n Var[W])^(d-l))."""
from __future__ import annotations

import pandas as pd
from matplotlib.ticker import MaxNLocator

from glorot_repro.analysis.explorer import QUANTITIES
from glorot_repro.analysis.figures.style import plt
from glorot_repro.analysis.labels import ACTIVATION_NAMES


def init_profiles(profiles: pd.DataFrame, title: str) -> plt.Figure:
    """`profiles`: explorer.init_profile's table, for one or more (activation, init) pairs."""
    pairs = list(dict.fromkeys(zip(profiles.activation, profiles.init)))
    colors = dict(zip(pairs, plt.rcParams["axes.prop_cycle"].by_key()["color"] * len(pairs)))
    fig, axes = plt.subplots(1, len(QUANTITIES), figsize=(5 * len(QUANTITIES), 4), sharex=True)
    for ax, (quantity, name) in zip(axes, QUANTITIES.items()):
        for (activation, init), rows in profiles[profiles.quantity == quantity].groupby(
                ["activation", "init"], sort=False):
            color = colors[(activation, init)]
            label = f"{ACTIVATION_NAMES[activation]}, {init}"
            ax.plot(rows.layer, rows.measured, "o-", ms=3, color=color, label=label)
            if rows.predicted.notna().any():
                ax.plot(rows.layer, rows.predicted, "--", color=color)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("hidden layer (1 = nearest the input)")
        ax.set_ylabel("standard deviation")
        ax.set_title(name, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}\nsolid: measured; dashed: predicted (eqs. 5-6; ReLU with He et al.'s "
                 f"factor 1/2 per layer). No prediction for sigmoid and softplus, nor for ReLU "
                 f"activations' std", fontsize=9)
    fig.tight_layout()
    return fig
