"""The SGD update of every model, the one way the loop reaches a step: the lean step
(training/fast/: fused, deferred, optionally CUDA graphs and the compiled kernel) or the
textbook one."""
from __future__ import annotations

import torch
from glorot_repro.config import TrainConf
from glorot_repro.errors import ConfigError
from glorot_repro.nets.losses import cost
from glorot_repro.nets.model import DeepMLP
from glorot_repro.training.fast import kernels
from glorot_repro.training.fast.graphs import check_mode, maybe_graphed
from glorot_repro.training.fast.lean import LeanSGD


class AutogradSGD:
    """loss.backward() + torch.optim.SGD, for one model of any shape: the reference the lean
    step is tested against. Same interface as LeanSGD; its weights are always written."""

    def __init__(self, model: DeepMLP, lr: float, loss: str):
        self.model, self.loss = model, loss
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        self.pending = False

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x[0])
        value = cost(logits, y[0], self.loss)
        self.optimizer.zero_grad(set_to_none=True)
        value.backward()
        self.optimizer.step()
        return value.detach().view(1), logits.detach().unsqueeze(0)

    def sync(self) -> None:
        pass


# What picks the step's numeric path (numeric_path), for a resume refused on another one.
NUMERICS_CHOICE = f"{kernels.DISABLE_VAR} and {kernels.ISA_VAR} choose it"


def make_step(models: list[DeepMLP], lrs: list[float], tc: TrainConf, device: torch.device):
    """The trainer's SGD update (make_sgd), as CUDA graph replays where train.cuda_graphs asks
    for them (training/fast/graphs.py)."""
    return maybe_graphed(make_sgd(models, lrs, tc, device), tc, device)


def check_step(tc: TrainConf, device: torch.device) -> None:
    """ConfigError where the step train.* asks for cannot run on `device`: before any run dir
    is made (command/callbacks.py) and again where the step is built."""
    check_mode(tc, device)


def make_sgd(models: list[DeepMLP], lrs: list[float], tc: TrainConf, device: torch.device):
    """The SGD update of every model, theta <- theta - lr * g with g the mean gradient over its
    minibatch (no momentum, no weight decay, no schedule). `lean` fuses it into the backward pass,
    defers writing it into the weights (train.defer) and trains K models as one stack
    (glorot_repro/training/fast/lean.py); `autograd` is the textbook loop. Either has step(x, y) ->
    (losses, logits), with a leading model axis (x is (K, batch, inputs)), and sync(), which
    writes any deferred update into the weights before something reads them."""
    if tc.step == "lean":
        return LeanSGD(models, lrs, tc.loss, defer=resolve_defer(tc.defer, device))
    if len(models) > 1:
        raise ConfigError("train.step=autograd trains one model; use train.step=lean for replicas")
    return AutogradSGD(models[0], lrs[0], tc.loss)


def resolve_defer(defer: int | None, device: torch.device) -> int:
    """train.defer=null: 10 on a CPU, where writing every weight each update costs more than the
    thin correction products (measured: scripts/bench.py --defer 1, docs/performance.md), 1 on a
    GPU, where the extra kernel launches would cost more than the writes saved (not measured
    yet; scripts/device_check.sh times defer=10 under CUDA graphs, which remove the launches)."""
    if defer is None:
        return 10 if device.type == "cpu" else 1
    return defer


def numeric_path(sgd) -> str:
    """Which products compute the updates: the compiled kernel's build (its instruction set) or
    torch's. They sum in different orders, so a run is bit-identical only on one of them; its
    checkpoints record it (training/run.py)."""
    lean = getattr(sgd, "lean", sgd)  # graphs.GraphedSGD wraps a LeanSGD
    isa = getattr(lean, "isa", None)
    return f"the compiled kernel ({isa})" if isa else "torch's products"
