"""The probes' per-layer TensorBoard tags for any nn.Module, read through hooks.

    handle = watch(model, writer, every=1000)   # any model, any loop with loss.backward()
    ...
    handle.remove()

The hidden layers are the activation modules in forward order (a module applied twice counts
twice), numbered 1..D from the input as in the paper. Layer l's pre-activation s^l is the
activation's input, z^l its output, delta^l = dC/ds^l its input's gradient (Fig. 7). A module
the user names that is a Linear or conv instead gives its output as s^l (the function applied
to it, F.gelu in a Transformer's MLP, is out of the hooks' sight, so z^l is unknown). W^l, the
weights feeding layer l (Figs. 8, 9), are found on the autograd graph (glorot_repro/measure/feeders.py);
those feeding the output are layer D+1's. Statistics, tags and histograms are the probes' own
(probes.layer_scalars, probes.probe_histograms): only how the tensors are reached differs.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch._dynamo.eval_frame import OptimizedModule
from torch.autograd.graph import register_multi_grad_hook
from torch.nn.modules.conv import _ConvNd

from glorot_repro.measure.dashboards import layout, write_layout
from glorot_repro.measure.feeders import feeders
from glorot_repro.measure.probes import Internals, layer_scalars, probe_histograms
from glorot_repro.measure.stats import span
from glorot_repro.measure.tblog import log_histograms, log_scalars
from glorot_repro.nets.activations import MODULES, VALUE_RANGES

ACTIVATION_TYPES = tuple(MODULES.values())
WEIGHTED_TYPES = (nn.Linear, _ConvNd)
# Activation histograms span the activation's range (Figs. 4, 6); the ranges of other modules'
# outputs are chosen from the data of the first step that logs them (stats.span).
RANGES = {cls: VALUE_RANGES[name] for name, cls in MODULES.items()}
HOW_TO_NAME = ("name them in modules= as types (nn.GELU), instances (model.act) or qualified "
               "names (\"layers.0.linear1\": a Linear or conv named so gives its output as s^l)")

COMPILED_AFTER = ("watch: this model was compiled after watch(), and its compiled code runs none "
                  "of watch's hooks, so nothing is logged; watch the compiled model instead, "
                  "watch(torch.compile(model), ...): its logging steps then run in eager mode")


@dataclass
class _Layer:
    s: torch.Tensor  # s^l on the graph, for its gradient
    pre: torch.Tensor  # s^l's values, copied when the hook saw them (safe from in-place ops)
    act: torch.Tensor | None  # z^l's values, likewise; None where z^l is out of sight
    range: tuple[float, float] | None  # of z^l's histogram; None: chosen from the data
    node: object  # s^l's grad_fn when the hook saw it


@dataclass
class _Forward:
    """What one forward pass showed the hooks, in the order the modules ran."""
    x: torch.Tensor
    out: torch.Tensor | None = None  # the model's output (its first tensor)
    layers: list[_Layer] = field(default_factory=list)
    z_nodes: set = field(default_factory=set)  # the grad_fn of each z^l when the hook saw it
    weighted: dict = field(default_factory=dict)  # a Linear/conv output's grad_fn -> the module
    order: dict = field(default_factory=dict)  # module -> when it first ran

    @cached_property
    def feeders(self) -> list[list[nn.Module]]:
        """The weighted modules feeding layers 1..D and, last, the output (layer D+1); read once
        the output is known."""
        starts = [layer.node for layer in self.layers] + [self.out.grad_fn]
        return feeders(starts, {layer.node for layer in self.layers if layer.node is not None},
                       self.z_nodes, self.weighted, self.order)


def _copy(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone()


class _Hooks:
    """Finds a model's activation and weight modules once; records a forward pass on demand."""

    def __init__(self, model: nn.Module, modules=None):
        named = list(modules or [])
        # A compiled model's modules are its original's: hooks on them run in eager mode only.
        inner = model._orig_mod if isinstance(model, OptimizedModule) else model
        names = {name: m for name, m in inner.named_modules()}
        for name in (n for n in named if isinstance(n, str)):
            if name not in names:
                raise ValueError(f"modules= names {name!r}, which {type(inner).__name__} does not "
                                 f"have; qualified names are those of model.named_modules(), "
                                 f"e.g. {', '.join(repr(n) for n in list(names)[1:4])}")
        types = ACTIVATION_TYPES + tuple(m for m in named if isinstance(m, type))
        chosen = {id(m) for m in named if isinstance(m, nn.Module)}
        chosen |= {id(names[n]) for n in named if isinstance(n, str)}
        self.model = model
        self.names = {m: name for name, m in reversed(list(names.items()))}  # the first name
        picked = [m for m in inner.modules() if isinstance(m, types) or id(m) in chosen]
        if not picked:
            raise ValueError(f"no activation modules found in {type(inner).__name__}: watch looks "
                             f"for {', '.join(t.__name__ for t in types)}; {HOW_TO_NAME}")
        # A Linear/conv named in modules= gives s^l (its output); any other module is an
        # activation, s^l in, z^l out.
        self.outputs = [m for m in picked if isinstance(m, WEIGHTED_TYPES)]
        self.activations = [m for m in picked if not isinstance(m, WEIGHTED_TYPES)]
        self.weighted = [m for m in inner.modules() if isinstance(m, WEIGHTED_TYPES)]
        self._handles = []

    def start(self, x: torch.Tensor) -> _Forward:
        """Forward hooks on the activations and the weighted modules, recording the pass that
        follows on input x until stop(); no other pass carries them."""
        rec = _Forward(x)
        running: list[_Layer] = []  # the activations whose forward has begun, not ended (nested)

        def before_activation(module, args):
            s = args[0]
            running.append(_Layer(s, _copy(s), None, RANGES.get(type(module)), s.grad_fn))
            rec.layers.append(running[-1])
            if getattr(module, "inplace", False):  # z^l would overwrite s^l: work on a copy
                return (s.clone(), *args[1:])

        def on_activation(module, args, out):
            running.pop().act = _copy(out)
            if out.grad_fn is not None:
                rec.z_nodes.add(out.grad_fn)

        def on_output(module, args, out):  # a named Linear/conv: s^l is its output
            rec.layers.append(_Layer(out, _copy(out), None, None, out.grad_fn))

        def on_weighted(module, args, out):
            if out.grad_fn is not None:
                rec.weighted[out.grad_fn] = module
                rec.order.setdefault(module, len(rec.order))

        # Each weighted module's hook first: a named Linear is a feeder of its own layer.
        self._handles = [m.register_forward_hook(on_weighted) for m in self.weighted]
        self._handles += [m.register_forward_pre_hook(before_activation) for m in self.activations]
        self._handles += [m.register_forward_hook(on_activation) for m in self.activations]
        self._handles += [m.register_forward_hook(on_output) for m in self.outputs]
        return rec

    def stop(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    @contextmanager
    def recording(self, x: torch.Tensor):
        rec = self.start(x)
        try:
            with eager(self.model):
                yield rec
        finally:
            self.stop()


def eager(model: nn.Module):
    """A compiled model's forward run in eager mode, where its modules' hooks fire (hooks added
    to a compiled model's modules after it compiled are not seen by the compiled code)."""
    return torch.compiler.set_stance("force_eager") if isinstance(model, OptimizedModule) \
        else nullcontext()


def _internals(rec: _Forward, grads: dict[int, torch.Tensor], per_example: float,
               examples: int, names: dict[nn.Module, str]) -> Internals:
    """The probes' Internals from a recorded pass and the gradients found for its tensors (by id;
    None for those off the graph): deltas times `per_example`, weight gradients over `examples`
    (the ops of probes.layer_internals, so DeepMLP's numbers come out the same to the bit). A
    layer fed by one weighted module has its gradient in wgrad; one fed by several, each's by
    name in wgrad_by_module."""
    def found(t):
        return grads.get(id(t))

    deltas = [found(layer.s) for layer in rec.layers]
    wgrad, by_module = [], {}
    for l, modules in enumerate(rec.feeders, start=1):
        gs = {m: found(m.weight) for m in modules}
        gs = {m: g if examples == 1 else g / examples for m, g in gs.items() if g is not None}
        wgrad.append(next(iter(gs.values())) if len(gs) == 1 else None)
        if len(gs) > 1:
            by_module |= {(l, names[m]): g for m, g in gs.items()}
    return Internals(rec.x.detach(), [layer.pre for layer in rec.layers],
                     [layer.act for layer in rec.layers],
                     [d if d is None or per_example == 1 else d * per_example for d in deltas],
                     found(rec.out) * per_example, wgrad, by_module)


def _weights(rec: _Forward) -> list[nn.Parameter]:
    """The weights of every module that feeds a layer or the output, once each."""
    return list({id(m.weight): m.weight for ms in rec.feeders for m in ms}.values())


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
             loss_fn: Callable) -> tuple[Internals, list]:
    with torch.enable_grad(), hooks.recording(x) as rec:
        logits = rec.out = _first_tensor(hooks.model(x))
    total = loss_fn(logits, y) * len(y)
    wanted = [layer.s for layer in rec.layers] + [logits] + _weights(rec)
    found = torch.autograd.grad(total, wanted, allow_unused=True)
    grads = {id(t): g for t, g in zip(wanted, found)}
    return _internals(rec, grads, 1.0, len(y), hooks.names), [l.range for l in rec.layers]


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
        self.act_ranges: dict[int, tuple[float, float]] = {}  # those chosen from the data
        self._busy = False  # inside our own pass on the probe batch
        self._rec = None  # the due step's recording, open during its forward
        self._eager = None  # a compiled model's eager mode, on during a due step's forward
        self._pending = None  # the due step's gradient hook, waiting for its backward
        # always_call: a forward that raises still closes the recording it opened.
        self._handles = [model.register_forward_pre_hook(self._before_forward),
                         model.register_forward_hook(self._after_forward, always_call=True)]

    # A step is a forward pass with gradients on (a training step; evaluations run under no_grad).
    # Every forward pays these two calls, which return at once between logging steps: counting
    # backward passes instead would put a hook on every step's output, a measurable cost.
    def _before_forward(self, module, args):
        if torch.compiler.is_compiling():  # traced into a graph compiled after watch()
            warnings.warn(COMPILED_AFTER, stacklevel=2)
            return
        if self._busy or not torch.is_grad_enabled():
            return  # our own pass on the probe batch, or an evaluation
        if self._pending is not None:  # the due step's forward had no backward: not its step
            self._drop_pending()
            self.steps -= 1
        step = self.steps
        self.steps += 1
        if step % self.every:
            return
        if self.probe is None:
            self._rec = self.hooks.start(args[0])
            self._eager = eager(self.hooks.model)
            self._eager.__enter__()
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
        self._eager.__exit__(None, None, None)
        out = _first_tensor(out)
        if out is not None and out.requires_grad:
            self._arm(rec, out, self.steps - 1)

    def _arm(self, rec: _Forward, out: torch.Tensor, step: int) -> None:
        """One hook on s^1..s^D, the output and the weights, called once the backward pass has
        computed all their gradients: then the step's tags are logged."""
        rec.out = out
        tensors = [layer.s for layer in rec.layers if layer.s.requires_grad] + [out] + _weights(rec)
        per_example = len(rec.x) if self.mean_loss else 1
        ranges = [layer.range for layer in rec.layers]

        def on_grads(found):
            self._drop_pending()
            grads = {id(t): g for t, g in zip(tensors, found) if g is not None}
            self._log(_internals(rec, grads, per_example, 1, self.hooks.names), ranges, step)

        self._pending = register_multi_grad_hook(tensors, on_grads)

    def _drop_pending(self):
        if self._pending is not None:
            self._pending.remove()
            self._pending = None

    def _log(self, internals: Internals, ranges: list, step: int) -> None:
        scalars = layer_scalars(internals)
        if not self.laid_out:  # the dashboard, once, for the layers this model has
            write_layout(self.writer, layout(scalars), step)
            self.laid_out = True
        log_scalars(self.writer, scalars, step)
        # A layer of no known range: the range its first logged step's values span, then kept,
        # so that every step's histogram of the layer shares one axis.
        for l, z in enumerate(internals.act, start=1):
            if ranges[l - 1] is None and z is not None:
                ranges[l - 1] = self.act_ranges.setdefault(l, span(z))
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

    modules: more activation modules beyond sigmoid, tanh, softsign, relu, softplus, as types
    (nn.GELU), instances (my_block.act) or qualified names ("layers.0.act"); a Linear or conv
    named so gives its output as s^l ("layers.0.linear1" before a Transformer's F.gelu). In-place
    activations are read on a copy of their input at logging steps. A compiled model
    (torch.compile(model)) runs its logging steps in eager mode. loss_fn(output, y): the probe batch's cost (a mean).
    reduction: how the training loss pools the minibatch ("mean", PyTorch's default, or "sum"),
    so that grad/ is the per-example delta^l as in the probes. bins, grad_range, wgrad_range:
    the histograms' fixed bins, as log.bins, log.grad_range, log.wgrad_range."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    return WatchHandle(model, writer, every, probe, modules, loss_fn, reduction, bins,
                       grad_range, wgrad_range)
