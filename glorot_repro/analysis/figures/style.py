"""Shared look of the figures: the paper's layer colours, fonts embedded as TrueType in PDFs."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# The paper's histograms colour layers 1..5 red, green, blue, black, cyan (Figs. 6-8). Deeper
# nets' layers 6, 7, ... step round the hue circle by the golden ratio: distinct at any depth.
PAPER_LAYER_COLORS = ("tab:red", "tab:green", "tab:blue", "black", "tab:cyan")
GOLDEN = (5 ** 0.5 - 1) / 2
# Figs. 11-12: one line style per init, so Sigmoid N does not hide under Sigmoid.
INIT_LINESTYLES = {"standard": "-", "normalized": "--", "he": ":"}


def layer_color(l: int) -> str:
    """The colour of hidden layer l = 1, 2, ... in every per-layer figure, at any depth."""
    if l <= len(PAPER_LAYER_COLORS):
        return PAPER_LAYER_COLORS[l - 1]
    return matplotlib.colors.to_hex(matplotlib.colors.hsv_to_rgb((l * GOLDEN % 1, 0.8, 0.75)))


def save(fig: plt.Figure, out: Path) -> list[Path]:
    """PNG and PDF (fonts embedded as TrueType: pdf.fonttype 42)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        for path in paths:
            fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths
