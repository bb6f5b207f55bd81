"""Save a grid of Shapeset-3x2 samples as PNG and PDF, each tile titled with its class (Fig. 1).

    python scripts/shapeset_samples.py --out shapeset_samples.png --n 32 --seed 0
"""
from __future__ import annotations

import argparse
from pathlib import Path

from glorot_repro.analysis.figures.samples import sample_grid
from glorot_repro.analysis.figures.style import save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("shapeset_samples.png"), help="PNG file to write")
    parser.add_argument("--n", type=int, default=32, help="number of samples")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--columns", type=int, default=8, help="tiles per row")
    args = parser.parse_args()
    for path in save(sample_grid(args.n, args.seed, args.columns), args.out):
        print(path)


if __name__ == "__main__":
    main()
