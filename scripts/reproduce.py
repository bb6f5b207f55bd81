"""Regenerate a paper artefact: run (or reuse) its runs, collect their event files, draw.

    python scripts/reproduce.py fig06                      # scale=cpu, runs in runs/fig06_cpu
    python scripts/reproduce.py fig07 --scale smoke        # seconds
    python scripts/reproduce.py fig08 --runs my/runs       # draw from your own runs, no training
    python scripts/reproduce.py fig01                      # Shapeset-3x2 samples (no runs)

Runs come from `python -m glorot_repro.train experiment=<artefact> scale=<scale>` (a Hydra
multirun, conf/experiment/<artefact>.yaml); they are reused when the runs dir already holds
finished runs (--rerun trains them again). Figures go to <out>/<artefact>.png and .pdf."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from glorot_repro.collect import collect_histograms, collect_scalars
from glorot_repro.figures.histograms import layer_histogram_panels
from glorot_repro.figures.samples import sample_grid
from glorot_repro.figures.style import save
from glorot_repro.figures.training import (error_curves, mean_std_bars, saturation_panels,
                                           weight_gradient_spread)

STANDARD_VS_NORMALIZED = [("tanh", "standard"), ("tanh", "normalized")]
TANH_VS_SOFTSIGN = [("tanh", "standard"), ("softsign", "standard")]

# artefact -> (needs runs, draw(runs_dir) -> figure)
ARTEFACTS = {
    "fig01": (False, lambda runs: sample_grid(n=32, seed=0)),
    "fig02": (True, lambda runs: mean_std_bars(collect_scalars(runs), "sigmoid", "standard")),
    "fig03": (True, lambda runs: saturation_panels(collect_scalars(runs), TANH_VS_SOFTSIGN)),
    "fig04": (True, lambda runs: layer_histogram_panels(collect_histograms(runs), "act",
                                                        TANH_VS_SOFTSIGN, at="last")),
    "fig06": (True, lambda runs: layer_histogram_panels(collect_histograms(runs), "act",
                                                        STANDARD_VS_NORMALIZED)),
    "fig07": (True, lambda runs: layer_histogram_panels(collect_histograms(runs), "grad",
                                                        STANDARD_VS_NORMALIZED)),
    "fig08": (True, lambda runs: layer_histogram_panels(collect_histograms(runs), "wgrad",
                                                        STANDARD_VS_NORMALIZED)),
    "fig09": (True, lambda runs: weight_gradient_spread(collect_scalars(runs))),
    "fig10": (True, lambda runs: saturation_panels(collect_scalars(runs), [("tanh", "normalized")])),
    "fig11": (True, lambda runs: error_curves(collect_scalars(runs), "Shapeset-3x2, 5 hidden layers")),
}


def ensure_runs(artefact: str, scale: str, runs: Path, rerun: bool) -> None:
    if not rerun and any(runs.rglob("summary.json")):
        print(f"reusing the runs in {runs}")
        return
    cmd = [sys.executable, "-m", "glorot_repro.train", f"experiment={artefact}", f"scale={scale}",
           f"hydra.sweep.dir={runs}"]
    print("running:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artefact", choices=sorted(ARTEFACTS))
    parser.add_argument("--scale", default="cpu", choices=["smoke", "cpu", "paper"])
    parser.add_argument("--runs", type=Path, help="runs dir (default runs/<artefact>_<scale>)")
    parser.add_argument("--out", type=Path, default=Path("results/figures"))
    parser.add_argument("--rerun", action="store_true", help="train again even if runs exist")
    args = parser.parse_args()
    needs_runs, draw = ARTEFACTS[args.artefact]
    runs = args.runs or Path("runs") / f"{args.artefact}_{args.scale}"
    if needs_runs:
        ensure_runs(args.artefact, args.scale, runs, args.rerun)
    for path in save(draw(runs), args.out / args.artefact):
        print(path)


if __name__ == "__main__":
    main()
