"""Backpropagation written out with the lecture's four equations (docs/paper.md §4),
for a DeepMLP: no autograd, so tests can hold the probes and autograd against it.

Lecture notation -> ours: its z^l (pre-activation) is our s^l, its a^l (activation) our z^l,
delta^l = dC/ds^l. With row-vector examples (x is (N, n_0)) and torch's (out, in) weights:
  (BP1) delta^L = grad_a C (.) f'(s^L)        -- here the softmax output layer, see output_delta
  (BP2) delta^l = (delta^{l+1} W^{l+1}) (.) f'(s^l)
  (BP3) dC/db^l = delta^l
  (BP4) dC/dW^l = delta^l^T z^{l-1}   ("a_in * delta_out")
Per-example deltas are returned; parameter gradients are of the mean cost over the N examples."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from glorot_repro.nets.activations import DERIVATIVES
from glorot_repro.nets.model import DeepMLP


@dataclass
class Backprop:
    pre: list[torch.Tensor]  # s^1..s^D
    act: list[torch.Tensor]  # z^1..z^D
    delta: list[torch.Tensor]  # dC_x/ds^1..dC_x/ds^D, per example (rows)
    weight_grads: list[torch.Tensor]  # dC/dW^1..dC/dW^(D+1), mean cost
    bias_grads: list[torch.Tensor]


def output_delta(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """dC_x/d(logits) per example. Softmax + NLL: p - onehot(y) (the lecture's 'simple, stable
    gradient'). Quadratic 1/2||p - t||^2 through the softmax Jacobian: p (.) (r - <p, r>), r = p - t."""
    p = logits.softmax(dim=-1)
    t = F.one_hot(y, logits.shape[-1]).to(p.dtype)
    if loss == "nll":
        return p - t
    r = p - t
    return p * (r - (p * r).sum(dim=-1, keepdim=True))


def backprop(model: DeepMLP, x: torch.Tensor, y: torch.Tensor, loss: str = "nll") -> Backprop:
    fprime = DERIVATIVES[model.activation_name]
    layers = model.layers
    # Feedforward, keeping every s^l and z^l.
    pre, act, z = [], [], x
    for layer in model.hidden:
        s = z @ layer.weight.T + layer.bias
        z = model.f(s)
        pre.append(s)
        act.append(z)
    logits = z @ model.output.weight.T + model.output.bias
    # Output error, then (BP2) down through the hidden layers.
    deltas = [output_delta(logits, y, loss)]
    for l in reversed(range(len(model.hidden))):
        deltas.insert(0, (deltas[0] @ layers[l + 1].weight) * fprime(pre[l]))
    # (BP3), (BP4) averaged over the examples: the gradient of the mean cost.
    inputs = [x] + act
    n = len(x)
    weight_grads = [d.T @ a / n for d, a in zip(deltas, inputs)]
    bias_grads = [d.mean(dim=0) for d in deltas]
    return Backprop(pre, act, deltas[:-1], weight_grads, bias_grads)
