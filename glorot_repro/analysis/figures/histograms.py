"""Per-layer histograms, one panel per (activation, init), one line per hidden layer:
Figs. 6-8 at initialisation (tanh, standard vs normalized init: activations, back-propagated
gradients dC/ds, weight gradients dC/dW) and Fig. 4 at the end of training (activations, tanh
vs softsign)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from glorot_repro.analysis.collect import hidden_histograms
from glorot_repro.analysis.figures.style import layer_color, plt
from glorot_repro.analysis.labels import curve_label

QUANTITIES = {"act": "activation value", "grad": "back-propagated gradient dC/ds",
              "wgrad": "weight gradient dC/dW"}


def layer_histogram_panels(hist: pd.DataFrame, quantity: str, panels: list[tuple[str, str]],
                           at: str = "first") -> plt.Figure:
    """The fraction of values in each fixed bin (the paper's 'normalized histograms') at each
    run's first or last histogram step."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(6, 2.6 * len(panels)), sharex=True,
                             squeeze=False)
    for ax, (activation, init) in zip(axes[:, 0], panels):
        rows = hist[(hist.activation == activation) & (hist.init == init)]
        rows = hidden_histograms(rows, quantity)
        if rows.empty:
            raise ValueError(f"no {quantity} histograms for activation={activation}, init={init}")
        step = rows.step.min() if at == "first" else rows.step.max()
        for _, row in rows[rows.step == step].sort_values("layer").iterrows():
            right = np.asarray(row.limits)
            counts = np.asarray(row.counts, dtype=float)
            centres = right - (right[1] - right[0]) / 2
            # Every bin is drawn: the end bins hold the values at and beyond the range's ends,
            # which is where saturation shows (tanh's modes at +-1, Fig. 4).
            ax.plot(centres, counts / counts.sum(), color=layer_color(row.layer),
                    label=f"Layer {row.layer}")
        ax.set_title(f"{curve_label(activation, init)}, update {step}", fontsize=10)
        ax.set_ylabel("fraction of values")
        ax.legend(fontsize=8, ncol=2)
    axes[-1, 0].set_xlabel(QUANTITIES[quantity])
    fig.tight_layout()
    return fig
