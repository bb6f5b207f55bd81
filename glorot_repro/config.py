"""The typed config schema: every key a run is configured by, its type and default (Hydra's
ConfigStore holds it as `base_config`, so a misspelt key fails at start). Each part is a
sub-config that the code using it takes (`TrainConf`, `LogConf`, ...), never the whole config.

Only dataclasses here: every folder of the package may import it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING

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
    # Instead of `seeds`: this many seeds from `seed` on, training/replicas.py's SEED_STRIDE apart (seed, seed + 1000,
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
    # the pending ones into the products meanwhile (glorot_repro/training/fast/lean.py). Same SGD up to rounding.
    # null = 10 on a CPU, 1 (at once) on a GPU.
    defer: Optional[int] = None
    # lean step: replay each update as a CUDA graph (glorot_repro/training/fast/graphs.py): auto = on a CUDA
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
    """Unsupervised pre-training before supervised training (glorot_repro/training/pretrain.py). The keys
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
