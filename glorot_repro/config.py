"""Typed config schema (Hydra ConfigStore) and the checks Hydra cannot do.

The schema makes a misspelt key fail at start; `validate` names a bad value and the valid ones."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf, open_dict

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


# The keys every scale sets (conf/scale/<scale>.yaml, the one home of a budget) are MISSING here.


@dataclass
class ModelConf:
    depth: int = 5  # hidden layers (paper: 1-5; Table 1 uses 5)
    width: int = MISSING  # units per hidden layer (paper: 1000); set by the scale


@dataclass
class ReplicaConf:
    """Several models of one configuration trained together in one process, one per
    (init, seed, lr) in inits x seeds x lrs; an empty list means just `init`, `seed` /
    `train.lr`. The init only sets the starting weights, so nets of one activation with
    different inits share one stack."""
    seeds: list[int] = field(default_factory=list)
    # Instead of `seeds`: this many seeds from `seed` on, run.SEED_STRIDE apart (seed, seed + 1000,
    # ...), so rows that each have their own `seed` (conf/row/) keep disjoint seeds in a stack.
    n_seeds: int = 0
    lrs: list[float] = field(default_factory=list)
    inits: list[str] = field(default_factory=list)


@dataclass
class TrainConf:
    batch_size: int = 10  # paper: minibatch of 10, mean gradient
    lr: float = 0.03  # learns steadily at cpu scale (0.1 blew the loss up; docs/choices.md)
    updates: int = MISSING  # SGD updates; set by the scale
    eval_every: int = MISSING  # valid and test error on the full sets every this many updates
    loss: str = "nll"  # nll (paper) | quadratic (Fig. 5's comparison)
    step: str = "lean"  # lean (fused, no autograd) | autograd (loss.backward + torch.optim.SGD)
    # lean step: write each layer's SGD updates into its weights every `defer` updates, folding
    # the pending ones into the products meanwhile (glorot_repro/lean.py). Same SGD up to rounding.
    # null = 10 on a CPU, 1 (at once) on a GPU.
    defer: Optional[int] = None
    # lean step: replay each update as a CUDA graph (glorot_repro/graphs.py): auto = on a CUDA
    # device, on = insist (an error without one), off = never. The same SGD, kernel for kernel.
    cuda_graphs: str = "auto"
    checkpoint_every: int = MISSING
    check_every: int = 100  # look for a NaN/inf loss every this many updates (one host sync each)
    eval_batch_size: int = 1_000
    # Resume a run dir's checkpoint even though the config differs from the one it was written
    # with (keys outside RESUMABLE_CHANGES); without it such a resume is refused, naming the keys.
    # Also: start a run in a dir holding files glorot-repro did not write (a foreign checkpoint,
    # event files or summary), which is refused otherwise; their event files are kept.
    force_resume: bool = False
    replicas: ReplicaConf = field(default_factory=ReplicaConf)


@dataclass
class LogConf:
    every: int = MISSING  # per-layer probes every this many updates (0 = off)
    histograms: int = MISSING  # histogram cadence (0 = off); a multiple of `every`
    progress: bool = True  # tqdm bar
    probe_size: int = 300  # fixed probe set: the first test examples (paper: 300)
    jacobian_examples: int = 2  # probe examples whose layer Jacobians are averaged (0 = off)
    bins: int = 101  # histogram bins (odd: one bin centred on 0)
    grad_range: float = 0.1  # back-propagated gradient histograms span +-this (Fig. 7)
    wgrad_range: float = 0.01  # weight-gradient histograms span +-this (Fig. 8)


@dataclass
class ActivationConf:
    name: str = MISSING


@dataclass
class InitConf:
    name: str = MISSING


@dataclass
class PretrainConf:
    """Unsupervised pre-training before supervised training (glorot_repro/pretrain.py). The keys
    below matter only with name=dae; the defaults are scale=cpu's, and the other scales set
    their own budget."""
    name: str = MISSING  # none | dae (greedy layer-wise stacked denoising auto-encoders)
    updates_per_layer: int = 1_000  # SGD updates of each hidden layer's auto-encoder
    lr: float = 0.01  # the auto-encoders' SGD learning rate (minibatches of train.batch_size)
    noise: float = 0.25  # masking noise: each input of an auto-encoder zeroed with this probability
    log_every: int = 100  # pretrain/layer<l>/reconstruction every this many updates


@dataclass
class DatasetConf:
    name: str = MISSING
    root: str = "${oc.env:GLOROT_DATA,data}"  # where MNIST, CIFAR-10, Small-ImageNet files live
    download: bool = False  # fetch MNIST / CIFAR-10 through torchvision only when asked
    split_seed: int = 0  # seeds the train/valid split of the real datasets
    n_valid: int = MISSING  # Shapeset: size of the fixed validation set
    n_test: int = MISSING  # Shapeset: size of the fixed test set
    valid_seed: int = 1_000_001  # Shapeset: the validation set's own seed
    test_seed: int = 1_000_002  # Shapeset: the test set's own seed
    signed_pixels: bool = False  # paper unclear (docs/paper.md §1): [0,1] (false) or [-1,1] (true) inputs


@dataclass
class Config:
    model: ModelConf = field(default_factory=ModelConf)
    train: TrainConf = field(default_factory=TrainConf)
    log: LogConf = field(default_factory=LogConf)
    activation: ActivationConf = field(default_factory=ActivationConf)
    init: InitConf = field(default_factory=InitConf)
    pretrain: PretrainConf = field(default_factory=PretrainConf)
    dataset: DatasetConf = field(default_factory=DatasetConf)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda


# Keys a resumed run may change without train.force_resume: they extend the run or change how it
# runs, not what it computes. `device` may change because the checkpoint holds CPU tensors;
# a Shapeset stream still refuses another device (its RNG differs there; see data/streams.py).
RESUMABLE_CHANGES = frozenset({
    "train.updates", "train.checkpoint_every", "train.check_every", "train.eval_batch_size",
    "train.force_resume", "train.defer", "train.cuda_graphs", "log.progress", "dataset.root",
    "dataset.download", "device"})


def config_changes(saved: dict, now: dict) -> list[str]:
    """'key: value (checkpoint) vs value (now)' for each key outside RESUMABLE_CHANGES whose value
    differs between a checkpoint's config and the current one (both plain nested dicts)."""
    before, after = _flatten(saved), _flatten(now)
    absent = "<absent>"
    return [f"{key}: {before.get(key, absent)} (checkpoint) vs {after.get(key, absent)} (now)"
            for key in sorted(before.keys() | after.keys())
            if key not in RESUMABLE_CHANGES and before.get(key, absent) != after.get(key, absent)]


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{name}.")
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def register_configs() -> None:
    node = OmegaConf.structured(Config)
    # The schema also brings the Hydra settings that are code, not configuration: callbacks that
    # check the config, then create and lock the output dir before Hydra does, so that a bad
    # value, an unwritable or a busy dir gives a one-line error and leaves nothing behind, and
    # that say where a sweep's logs went (glorot_repro/callbacks.py); and no `.hydra/` written by
    # Hydra: train() writes it once the run dir is known to be ours and resumable, so a refused
    # resume leaves the old run's config as it was.
    with open_dict(node):
        node.hydra = {"callbacks": {
            "start": {"_target_": "glorot_repro.callbacks.CheckAtStart"},
            "sweep_logs": {"_target_": "glorot_repro.callbacks.SweepLogs"}},
            "output_subdir": None}
    ConfigStore.instance().store(name="base_config", node=node)


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
            node = globals().get(node, node) if isinstance(node, str) else node
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
    from glorot_repro.activations import ACTIVATIONS
    from glorot_repro.init import INITS
    from glorot_repro.losses import LOSSES
    from glorot_repro.pretrain import PRETRAININGS

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
