"""Fig. 1: samples of Shapeset-3x2, each tile titled with its class."""
from __future__ import annotations

import math
from glorot_repro.data.shapeset import CLASS_NAMES, Shapeset3x2
from glorot_repro.analysis.figures.style import plt


def sample_grid(n: int = 32, seed: int = 0, columns: int = 8) -> plt.Figure:
    """n images from the stream seeded with `seed`, as a grid of tiles titled with their class."""
    images, labels = Shapeset3x2(seed=seed).sample(n)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 1.7 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            # Fixed grey scale so each tile shows its true levels, not a per-tile stretch.
            ax.imshow(images[i].numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(CLASS_NAMES[labels[i]], fontsize=9)
    fig.tight_layout()
    return fig
