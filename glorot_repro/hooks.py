"""The probes' per-layer TensorBoard tags for any nn.Module, read through hooks.

    handle = watch(model, writer, every=1000)   # any model, any loop with loss.backward()
    ...
    handle.remove()

The hidden layers are the activation modules in forward order (a module applied twice counts
twice), numbered 1..D from the input as in the paper. Layer l's pre-activation s^l is the
activation's input, z^l its output, delta^l = dC/ds^l its input's gradient (Fig. 7), and W^l the
weight of the last nn.Linear / conv to run before it (Figs. 8, 9); the last one to run after the
last activation is the output layer, D+1. Statistics, tags and histograms are the probes' own
(probes.layer_scalars, probes.probe_histograms): only how the tensors are reached differs.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.graph import register_multi_grad_hook
from torch.nn.modules.conv import _ConvNd

from glorot_repro.activations import MODULES, VALUE_RANGES
from glorot_repro.dashboards import layout, write_layout
from glorot_repro.probes import Internals, layer_scalars, probe_histograms
from glorot_repro.tblog import log_histograms, log_scalars

ACTIVATION_TYPES = tuple(MODULES.values())
WEIGHTED_TYPES = (nn.Linear, _ConvNd)
# Activation histograms span the activation's range (Figs. 4, 6); types of the user's own: OTHER_RANGE.
RANGES = {cls: VALUE_RANGES[name] for name, cls in MODULES.items()}
OTHER_RANGE = (-1.0, 1.0)


@dataclass
class _Forward:
    """What one forward pass showed the hooks, in the order the modules ran."""
    x: torch.Tensor
    out: torch.Tensor | None = None  # the model's output (its first tensor)
    pre: list[torch.Tensor] = field(default_factory=list)  # s^l, still on the graph
    act: list[torch.Tensor] = field(default_factory=list)  # z^l
    ranges: list[tuple[float, float]] = field(default_factory=list)
    feeders: list[nn.Parameter | None] = field(default_factory=list)  # W^l for each layer
    last_weight: nn.Parameter | None = None  # of the latest Linear/conv since the last activation

    def weights(self) -> list[nn.Parameter | None]:
        """W^1..W^D, then W^(D+1) when a Linear/conv ran after the last activation."""
        return self.feeders + ([self.last_weight] if self.last_weight is not None else [])


class _Hooks:
    """Finds a model's activation and weight modules once; records a forward pass on demand."""

    def __init__(self, model: nn.Module, modules=None):
        named = list(modules or [])
        types = ACTIVATION_TYPES + tuple(m for m in named if isinstance(m, type))
        instances = {id(m) for m in named if isinstance(m, nn.Module)}
        self.model = model
        self.activations = [m for m in model.modules() if isinstance(m, types) or id(m) in instances]
        if not self.activations:
            raise ValueError(f"no activation modules found in {type(model).__name__}: watch looks "
                             f"for {', '.join(t.__name__ for t in types)}; name yours in modules=")
        for m in self.activations:
            if getattr(m, "inplace", False):  # s^l would be overwritten by z^l before it is read
                raise ValueError(f"{m} works in place, so its input s^l is lost; use inplace=False")
        self.weighted = [m for m in model.modules()
                         if isinstance(m, WEIGHTED_TYPES) and id(m) not in instances]

    def start(self, x: torch.Tensor) -> _Forward:
        """Forward hooks on the activations and the weighted modules, recording the pass that
        follows on input x until stop(); no other pass carries them."""
        rec = _Forward(x)

        def on_activation(module, args, out):
            rec.pre.append(args[0])
            rec.act.append(out)
            rec.ranges.append(RANGES.get(type(module), OTHER_RANGE))
            rec.feeders.append(rec.last_weight)
            rec.last_weight = None

        def on_weighted(module, args, out):
            rec.last_weight = module.weight

        self._handles = [m.register_forward_hook(on_activation) for m in self.activations]
        self._handles += [m.register_forward_hook(on_weighted) for m in self.weighted]
        return rec

    def stop(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    @contextmanager
    def recording(self, x: torch.Tensor):
        rec = self.start(x)
        try:
            yield rec
        finally:
            self.stop()


def _internals(rec: _Forward, grads: dict[int, torch.Tensor], per_example: float,
               examples: int) -> Internals:
    """The probes' Internals from a recorded pass and the gradients found for its tensors (by id;
    None for those off the graph): deltas times `per_example`, weight gradients over `examples`
    (the ops of probes.layer_internals, so DeepMLP's numbers come out the same to the bit)."""
    def found(t):
        return grads.get(id(t)) if t is not None else None

    deltas = [found(s) for s in rec.pre]
    return Internals(rec.x.detach(), [s.detach() for s in rec.pre], [z.detach() for z in rec.act],
                     [None if d is None else d * per_example for d in deltas],
                     found(rec.out) * per_example,
                     [None if g is None else g / examples for g in map(found, rec.weights())])


def _first_tensor(out):
    return out if isinstance(out, torch.Tensor) else next(
        (t for t in out if isinstance(t, torch.Tensor)), None)


def capture(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
            loss_fn: Callable = F.cross_entropy, modules=None) -> Internals:
    """One forward and one backward pass of any model on (x, y), read through hooks, as
    probes.layer_internals reads DeepMLP's: the deltas are rows of d(sum of per-example
    costs)/ds^l (loss_fn(output, y) is a mean over the batch), the weight gradients those of the
    mean cost. The model's .grad stays untouched."""
    return _capture(_Hooks(model, modules), x, y, loss_fn)[0]


def _capture(hooks: _Hooks, x: torch.Tensor, y: torch.Tensor,
             loss_fn: Callable) -> tuple[Internals, list[tuple[float, float]]]:
    with torch.enable_grad(), hooks.recording(x) as rec:
        logits = rec.out = _first_tensor(hooks.model(x))
    total = loss_fn(logits, y) * len(y)
    weights = [w for w in rec.weights() if w is not None]
    wanted = rec.pre + [logits] + weights
    found = torch.autograd.grad(total, wanted, allow_unused=True)
    grads = {id(t): g for t, g in zip(wanted, found)}
    return _internals(rec, grads, 1.0, len(y)), rec.ranges


class WatchHandle:
    """Logs the model's layers at training steps 0, every, 2 every, ...; remove() detaches it."""

    def __init__(self, model, writer, every, probe, modules, loss_fn, reduction, bins,
                 grad_range, wgrad_range):
        self.hooks = _Hooks(model, modules)
        self.writer, self.every, self.probe, self.loss_fn = writer, every, probe, loss_fn
        # A mean loss gives dC/ds^l / B for each example: times B, the per-example delta^l.
        self.mean_loss = {"mean": True, "sum": False}[reduction]
        self.bins, self.grad_range, self.wgrad_range = bins, grad_range, wgrad_range
        self.steps = 0  # training steps so far
        self.laid_out = False
        self._busy = False  # inside our own pass on the probe batch
        self._rec = None  # the due step's recording, open during its forward
        self._pending = None  # the due step's gradient hook, waiting for its backward
        self._handles = [model.register_forward_pre_hook(self._before_forward),
                         model.register_forward_hook(self._after_forward)]

    # A step is a forward pass with gradients on (a training step; evaluations run under no_grad).
    # Every forward pays these two calls, which return at once between logging steps: counting
    # backward passes instead would put a hook on every step's output, a measurable cost.
    def _before_forward(self, module, args):
        if self._busy or not torch.is_grad_enabled():
            return  # our own pass on the probe batch, or an evaluation
        if self._pending is not None:  # the due step's forward had no backward: not its step
            self._drop_pending()
            self.steps -= 1
        if self._rec is not None:  # left open by a forward that raised
            self.hooks.stop()
            self._rec = None
        step = self.steps
        self.steps += 1
        if step % self.every:
            return
        if self.probe is None:
            self._rec = self.hooks.start(args[0])
            return
        self._busy = True
        try:
            internals, ranges = _capture(self.hooks, *self.probe, self.loss_fn)
        finally:
            self._busy = False
        self._log(internals, ranges, step)

    def _after_forward(self, module, args, out):
        if self._rec is None or self._busy:
            return
        rec, self._rec = self._rec, None
        self.hooks.stop()
        out = _first_tensor(out)
        if out is not None and out.requires_grad:
            self._arm(rec, out, self.steps - 1)

    def _arm(self, rec: _Forward, out: torch.Tensor, step: int) -> None:
        """One hook on s^1..s^D, the output and the weights, called once the backward pass has
        computed all their gradients: then the step's tags are logged."""
        weights = [w for w in rec.weights() if w is not None]
        rec.out = out
        tensors = [s for s in rec.pre if s.requires_grad] + [out] + weights
        per_example = len(rec.x) if self.mean_loss else 1

        def on_grads(found):
            self._drop_pending()
            grads = {id(t): g for t, g in zip(tensors, found) if g is not None}
            self._log(_internals(rec, grads, per_example, 1), rec.ranges, step)

        self._pending = register_multi_grad_hook(tensors, on_grads)

    def _drop_pending(self):
        if self._pending is not None:
            self._pending.remove()
            self._pending = None

    def _log(self, internals: Internals, ranges, step: int) -> None:
        scalars = layer_scalars(internals)
        if not self.laid_out:  # the dashboard, once, for the layers this model has
            write_layout(self.writer, layout(scalars), step)
            self.laid_out = True
        log_scalars(self.writer, scalars, step)
        log_histograms(self.writer, probe_histograms(ranges, internals, self.grad_range,
                                                     self.wgrad_range, self.bins), step)

    def remove(self) -> None:
        self._drop_pending()
        for h in self._handles:
            h.remove()
        self._handles = []


def watch(model: nn.Module, writer, every: int = 1000, probe=None, modules=None, *,
          loss_fn: Callable = F.cross_entropy, reduction: str = "mean", bins: int = 101,
          grad_range: float = 0.1, wgrad_range: float = 0.01) -> WatchHandle:
    """Log `model`'s per-layer statistics and histograms to the SummaryWriter `writer` at the
    first training step and every `every`-th after it, on that step's minibatch (read during its
    forward and backward passes), or on the fixed batch probe=(x, y) (its own forward and backward
    pass, before the step's forward). A step is a forward pass with gradients enabled: evaluate
    under torch.no_grad().

    modules: more activation module types or instances (nn.GELU, my_block.act) beyond sigmoid,
    tanh, softsign, relu, softplus. loss_fn(output, y): the probe batch's cost (a mean).
    reduction: how the training loss pools the minibatch ("mean", PyTorch's default, or "sum"),
    so that grad/ is the per-example delta^l as in the probes. bins, grad_range, wgrad_range:
    the histograms' fixed bins, as log.bins, log.grad_range, log.wgrad_range."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    return WatchHandle(model, writer, every, probe, modules, loss_fn, reduction, bins,
                       grad_range, wgrad_range)
