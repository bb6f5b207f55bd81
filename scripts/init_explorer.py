"""Look inside a freshly initialised net, layer by layer: the standard deviation of its activations,
pre-activations and back-propagated gradients in each hidden layer, beside the prediction of
eqs. 5-6 (and of He et al.'s factor 1/2 per layer for ReLU). Writes PNG, PDF and CSV.

    python scripts/init_explorer.py activation=relu init=he model.depth=20
    python scripts/init_explorer.py --pairs tanh:standard,tanh:normalized,relu:he model.depth=20
    python scripts/init_explorer.py --inputs gaussian init=orthogonal model.width=500

The positional arguments are the training command's Hydra overrides (model.depth, model.width,
dataset, seed, log.probe_size, device, ...): the net is the one `python -m glorot_repro.train
<overrides>` starts from, measured on that run's probe set (the first log.probe_size test
examples) or, with --inputs gaussian, on as many standard-normal inputs. --pairs replaces the
config's activation and init with several activation:init pairs, drawn in one figure."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from hydra.errors import HydraException

from glorot_repro.analysis.explorer import INPUTS, gaussian_batch, init_profile, parse_pairs
from glorot_repro.analysis.figures.explorer import init_profiles
from glorot_repro.analysis.figures.style import save
from glorot_repro.command.compose import compose_config
from glorot_repro.command.validate import validate
from glorot_repro.data import DatasetError, build_data
from glorot_repro.errors import ConfigError
from glorot_repro.training.device import resolve_device


def explore(args: argparse.Namespace) -> list[Path]:
    cfg = compose_config(args.overrides)
    validate(cfg)
    pairs = parse_pairs(args.pairs) if args.pairs else [(cfg.activation.name, cfg.init.name)]
    device = resolve_device(cfg.device)
    data = build_data(cfg.dataset, device, cfg.train.batch_size)
    n, depth, width = cfg.log.probe_size, cfg.model.depth, cfg.model.width
    if args.inputs == "gaussian":
        x, y = gaussian_batch(n, data.n_inputs, data.n_classes, cfg.seed, device)
        inputs = f"{n} standard-normal inputs"
    else:
        x, y = (t[:n] for t in data.test)
        inputs = f"{len(x)} {cfg.dataset.name} test examples"
    profiles = pd.concat([init_profile(activation, init, depth, width, x, y, data.n_classes,
                                       cfg.seed, cfg.train.loss) for activation, init in pairs],
                         ignore_index=True)
    out = args.out or Path("init_explorer") / (
        "_".join(f"{a}-{i}" for a, i in pairs) + f"_d{depth}_w{width}_{args.inputs}")
    out.parent.mkdir(parents=True, exist_ok=True)
    profiles.to_csv(out.with_suffix(".csv"), index=False, float_format="%.6g")
    title = f"At initialisation: {depth} hidden layers of {width} units, on {inputs}"
    return [out.with_suffix(".csv"), *save(init_profiles(profiles, title), out)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", help="activation:init pairs, e.g. tanh:standard,relu:he "
                                        "(default: the config's activation and init)")
    parser.add_argument("--inputs", choices=INPUTS, default="dataset",
                        help="the dataset's probe set (default), or standard-normal inputs")
    parser.add_argument("--out", type=Path, help="output path without suffix (default: init_"
                                                 "explorer/<pairs>_d<depth>_w<width>_<inputs>)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model.depth=20")
    args = parser.parse_intermixed_args()
    try:
        paths = explore(args)
    except (ConfigError, DatasetError, HydraException) as err:  # Hydra's: an unknown option
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
