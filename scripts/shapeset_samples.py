"""Save a grid of Shapeset-3x2 samples as a PNG, each tile titled with its class (paper Fig. 1).

    python scripts/shapeset_samples.py --out shapeset_samples.png --n 32 --seed 0
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

from glorot_repro.data.shapeset import CLASS_NAMES, Shapeset3x2  # noqa: E402


def save_sample_grid(out: Path, n: int, seed: int, columns: int) -> Path:
    """Draw n images from the stream seeded with `seed` and save them as a grid of titled tiles."""
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
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("shapeset_samples.png"), help="PNG file to write")
    parser.add_argument("--n", type=int, default=32, help="number of samples")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--columns", type=int, default=8, help="tiles per row")
    args = parser.parse_args()
    print(save_sample_grid(args.out, args.n, args.seed, args.columns))


if __name__ == "__main__":
    main()
