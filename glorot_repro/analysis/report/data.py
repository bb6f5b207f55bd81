"""The committed results the report reads, each loaded once: the saved series under
results/data/, the generated tables under results/tables/, and the verdicts computed from the
series by claims.py and strict.py. Nothing here trains or reads event files."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd

from glorot_repro.analysis.claims import escape_runs, verdict_table
from glorot_repro.analysis.collect import collect_histograms, collect_scalars, collect_summaries
from glorot_repro.analysis.strict import strict_table


# The run sets that hold MNIST 5-layer sigmoid runs (results/data/long/<name>/); reproduce.py's
# escape artefacts draw on the same.
ESCAPE_SETS = ("escape", "table1", "diagnostic")


class Results:
    """The tables under one results dir (default: the repository's results/)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.long = self.root / "data" / "long"

    @cached_property
    def fig11(self) -> pd.DataFrame:
        """Scalars of the Fig. 11 set (Figs. 3, 4, 9, 10, 11; Table 1's Shapeset column)."""
        return collect_scalars(self.long / "fig11")

    @cached_property
    def fig11_summaries(self) -> pd.DataFrame:
        return collect_summaries(self.long / "fig11")

    @cached_property
    def fig11_histograms(self) -> pd.DataFrame:
        return collect_histograms(self.long / "fig11")

    @cached_property
    def fig02(self) -> pd.DataFrame:
        return collect_scalars(self.long / "fig02")

    @cached_property
    def fig02_mnist(self) -> pd.DataFrame:
        return collect_scalars(self.long / "fig02_mnist")

    @cached_property
    def table1(self) -> pd.DataFrame:
        """Summaries of Table 1's MNIST runs."""
        return collect_summaries(self.long / "table1")

    @cached_property
    def rates(self) -> pd.DataFrame | None:
        """Scalars of experiment=rates (each Shapeset row at 200k updates on a pixel range and at
        a rate), or None before its first run set is saved."""
        saved = self.long / "rates"
        return collect_scalars(saved) if saved.exists() else None

    @cached_property
    def diagnostic(self) -> pd.DataFrame:
        return collect_scalars(self.long / "diagnostic")

    @cached_property
    def escape(self) -> pd.DataFrame:
        """Scalars of every MNIST 5-layer sigmoid run: the escape set (each rate to 500k updates
        or its leaving the plateau), Table 1's and the lone lr-0.01 run."""
        return escape_runs({name: self.long / name for name in ESCAPE_SETS})

    @cached_property
    def at_init(self) -> pd.DataFrame:
        """Scalars of Figs. 6-8's runs at initialisation (scale=cpu, train.updates=0)."""
        return collect_scalars(self.root / "data" / "cpu" / "fig06")

    @cached_property
    def claim_tables(self) -> dict[str, pd.DataFrame]:
        return {"scalars": pd.concat([self.fig11, self.fig02_mnist], ignore_index=True),
                "histograms": self.fig11_histograms, "summaries": self.table1,
                "escape": self.escape}

    @cached_property
    def claims(self) -> pd.DataFrame:
        return verdict_table(self.claim_tables)

    @cached_property
    def strict(self) -> pd.DataFrame:
        return strict_table(self.claim_tables)

    def table(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.root / "tables" / f"{name}.csv")

    def markdown(self, name: str) -> str:
        return (self.root / "tables" / f"{name}.md").read_text().rstrip("\n")

    @cached_property
    def compute(self) -> pd.DataFrame:
        return pd.read_csv(self.root / "data" / "compute.csv")
