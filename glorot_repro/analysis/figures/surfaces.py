"""Fig. 5: cross-entropy (black, top) and quadratic (red, bottom) cost surfaces over two weights."""
from __future__ import annotations

import torch

from glorot_repro.analysis.figures.style import plt
from glorot_repro.analysis.surfaces import cost_surface

SURFACE_STYLE = {"nll": ("black", "cross-entropy  -log P(y|x)"),
                 "quadratic": ("tab:red", "quadratic  ½‖softmax − onehot‖²")}


def cost_surfaces(**problem) -> plt.Figure:
    """Both costs as wireframes on shared axes, as in the paper; `problem` goes to cost_surface."""
    fig = plt.figure(figsize=(6.5, 5))
    ax = fig.add_subplot(projection="3d")
    for loss, (color, label) in SURFACE_STYLE.items():
        surface = cost_surface(loss, **problem)
        w1, w2 = torch.meshgrid(surface.w1, surface.w2, indexing="ij")
        ax.plot_wireframe(w1.numpy(), w2.numpy(), surface.cost.numpy(), color=color,
                          linewidth=0.6, rstride=2, cstride=2, label=label)
    ax.set_xlabel("W1 (first layer)")
    ax.set_ylabel("W2 (output layer)")
    ax.set_zlabel("cost")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("One tanh hidden layer, random data", fontsize=10)
    return fig
