"""Shared look of the figures: the paper's layer colours, fonts embedded as TrueType in PDFs."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# The paper's histograms colour layers 1..5 red, green, blue, black, cyan (Figs. 6-8).
LAYER_COLORS = {1: "tab:red", 2: "tab:green", 3: "tab:blue", 4: "black", 5: "tab:cyan",
                6: "tab:purple"}


def save(fig: plt.Figure, out: Path) -> list[Path]:
    """PNG and PDF (fonts embedded as TrueType: pdf.fonttype 42)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        for path in paths:
            fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths
