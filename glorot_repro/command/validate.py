"""The checks Hydra cannot do: override keys the schema (glorot_repro/config.py) lacks, and
values it cannot run with, each named in one line with the valid ones."""
from __future__ import annotations

import math
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from glorot_repro import config as schema
from glorot_repro.config import Config
from glorot_repro.errors import ConfigError

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
# The config groups: one folder of options each in conf/ (`--help` lists the same).
GROUPS = frozenset(p.name for p in Path(CONF_DIR).iterdir() if p.is_dir())
DEVICES = ("auto", "cpu", "cuda")
STEPS = ("lean", "autograd")
GRAPH_MODES = ("auto", "on", "off")  # train.cuda_graphs
DATASETS = ("shapeset", "mnist", "cifar10", "small_imagenet")
# What dataset.root holds, for each dataset read from files (glorot_repro/data/vision.py).
ROOT_HOLDS = {"mnist": "MNIST/raw/", "cifar10": "cifar-10-batches-py/",
              "small_imagenet": "small_imagenet/<class>/"}


def check_override_keys(overrides: list[str]) -> None:
    """Reject `a.b=v` overrides whose key the schema lacks, listing the valid keys at that level.

    Hydra also rejects them, but without naming the alternatives; a key added with `+` it takes
    silently (`+model.widht=64`), so those are checked too, unless they add a config group."""
    for item in overrides:
        key, _, value = item.partition("=")
        key = key.lstrip("+")
        if "=" not in item or key.startswith(("~", "hydra")):
            continue
        if key in GROUPS:
            check_option(key, value)
            continue
        node: Any = Config
        path: list[str] = []
        for part in key.split("."):
            where = ".".join(path) or "the top level"
            if not is_dataclass(node):
                raise ConfigError(f"unknown key {key!r}: {where} is a value, not a group of keys")
            names = [f.name for f in fields(node)]
            if part not in names:
                extra = f" (or a config group: {', '.join(sorted(GROUPS))})" if not path else ""
                raise ConfigError(f"unknown key {key!r}: {where} has {', '.join(names)}{extra}")
            node = next(f.type for f in fields(node) if f.name == part)
            node = getattr(schema, node, node) if isinstance(node, str) else node
            path.append(part)


def check_option(group: str, name: str) -> None:
    """Reject an option that conf/<group>/ lacks. Hydra does too, except in an optional group
    (budget), where it skips a missing option silently. Sweeps (a,b) and functions are Hydra's."""
    options = sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))
    if re.fullmatch(r"[\w-]+", name) and name != "null" and name not in options:
        raise ConfigError(f"{group}={name!r} is not valid; choose one of: {', '.join(options)}")


def _positive(value: int, key: str) -> None:
    if value <= 0:
        raise ConfigError(f"{key} must be a positive integer, got {value}")


def _finite_positive(value: float, key: str) -> None:
    # inf would run and then report divergence (a learning rate) or bin nothing (a range)
    if not value > 0:
        raise ConfigError(f"{key} must be > 0, got {value}")
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value}")


def validate(cfg: Any) -> None:
    """Raise ConfigError naming the first bad value and the valid ones."""
    for key in ("model.depth", "model.width", "train.batch_size", "train.eval_every",
                "train.checkpoint_every", "train.check_every", "train.eval_batch_size",
                "pretrain.updates_per_layer", "pretrain.log_every"):
        group, name = key.split(".")
        _positive(cfg[group][name], key)
    if cfg.model.width < 2:
        raise ConfigError(f"model.width must be at least 2, got {cfg.model.width}: with one unit "
                          f"per layer a hidden-to-hidden weight matrix is a single number, whose "
                          f"spread (wgrad/layer<l>/std) is undefined")
    if cfg.train.defer is not None:
        _positive(cfg.train.defer, "train.defer")
    if cfg.train.updates < 0:
        raise ConfigError(f"train.updates must be >= 0, got {cfg.train.updates}")
    for key in ("every", "histograms", "jacobian_examples"):
        if cfg.log[key] < 0:
            raise ConfigError(f"log.{key} must be >= 0 (0 turns it off), got {cfg.log[key]}")
    if cfg.log.every and cfg.log.histograms % cfg.log.every:
        raise ConfigError(f"log.histograms={cfg.log.histograms} must be a multiple of "
                          f"log.every={cfg.log.every} (histograms are drawn at probe steps)")
    for key in ("probe_size", "bins"):
        _positive(cfg.log[key], f"log.{key}")
    if cfg.dataset.name == "shapeset":
        for key in ("n_valid", "n_test"):
            _positive(cfg.dataset[key], f"dataset.{key}")
    for key in ("grad_range", "wgrad_range"):
        _finite_positive(cfg.log[key], f"log.{key}")
    for lr in [cfg.train.lr, *cfg.train.replicas.lrs]:
        _finite_positive(lr, "train.lr")
    _finite_positive(cfg.pretrain.lr, "pretrain.lr")
    if not 0 <= cfg.pretrain.noise < 1:
        raise ConfigError(f"pretrain.noise is a probability in [0, 1), got {cfg.pretrain.noise}")
    # A root that is a file, named as one (the loaders would call it missing).
    if cfg.dataset.name in ROOT_HOLDS and Path(cfg.dataset.root).expanduser().is_file():
        raise ConfigError(f"dataset.root={cfg.dataset.root} is a file, not a folder; point it at "
                          f"the folder that holds {ROOT_HOLDS[cfg.dataset.name]}")
    # Last, and imported here: the registries import torch, which the command's start (--help,
    # an error in the command line, a bad number above) does without.
    from glorot_repro.nets.activations import ACTIVATIONS
    from glorot_repro.nets.init import INITS
    from glorot_repro.nets.losses import LOSSES
    from glorot_repro.training.pretrain import PRETRAININGS

    for key, value, valid in (("activation.name", cfg.activation.name, ACTIVATIONS),
                              ("init.name", cfg.init.name, INITS),
                              ("pretrain.name", cfg.pretrain.name, PRETRAININGS),
                              ("train.loss", cfg.train.loss, LOSSES),
                              ("train.step", cfg.train.step, STEPS),
                              ("train.cuda_graphs", cfg.train.cuda_graphs, GRAPH_MODES),
                              ("device", cfg.device, DEVICES),
                              ("dataset.name", cfg.dataset.name, DATASETS)):
        if value not in valid:
            raise ConfigError(f"{key}={value!r} is not valid; choose one of: {', '.join(valid)}")
    replicas = cfg.train.replicas
    if replicas.n_seeds and replicas.seeds:
        raise ConfigError("train.replicas.seeds and train.replicas.n_seeds both set; give one")
    if replicas.n_seeds < 0:
        raise ConfigError(f"train.replicas.n_seeds must be >= 0, got {replicas.n_seeds}")
    for name in replicas.inits:
        if name not in INITS:
            raise ConfigError(f"train.replicas.inits holds {name!r}, not an init; choose from: "
                              f"{', '.join(INITS)}")
