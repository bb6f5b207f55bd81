"""Activation functions by name: the paper's three (Sec. 2.3) and the ReLU family the lecture points to."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from glorot_repro.errors import lookup

Activation = Callable[[torch.Tensor], torch.Tensor]


def softsign(x: torch.Tensor) -> torch.Tensor:
    """x / (1 + |x|): approaches its asymptotes polynomially, not exponentially like tanh (paper Sec. 2.3)."""
    return x / (1 + x.abs())


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softsign": softsign,
    "relu": torch.relu,
    "softplus": F.softplus,
}


# In-place forms, where torch has one: the lean step applies them to rows it keeps anyway.
ACTIVATIONS_IN_PLACE: dict[str, Activation] = {
    "sigmoid": torch.sigmoid_, "tanh": torch.tanh_, "relu": torch.relu_,
}


def get_activation(name: str) -> Activation:
    return lookup(ACTIVATIONS, name, "activation")


# The same functions as torch's own modules: DeepMLP applies one, so a forward hook on it sees each
# hidden layer's s^l and z^l, as on any user's model (glorot_repro/measure/hooks.py).
MODULES: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softsign": nn.Softsign, "relu": nn.ReLU,
    "softplus": nn.Softplus,
}


def activation_module(name: str) -> nn.Module:
    return lookup(MODULES, name, "activation")()


# f'(s), for the explicit backprop of the lecture's equations and for layer Jacobians (Sec. 4.2.2).
DERIVATIVES: dict[str, Activation] = {
    "sigmoid": lambda s: torch.sigmoid(s) * (1 - torch.sigmoid(s)),
    "tanh": lambda s: 1 - torch.tanh(s) ** 2,
    "softsign": lambda s: 1 / (1 + s.abs()) ** 2,
    "relu": lambda s: (s > 0).to(s.dtype),
    "softplus": torch.sigmoid,
}

# f'(s) written with the unit's output z = f(s): the lean step (glorot_repro/training/fast/lean.py) holds z
# for BP4 anyway, so BP2 costs one elementwise op instead of evaluating f again.
#   sigmoid z(1-z); tanh 1-z^2; softsign 1/(1+|s|)^2 = (1-|z|)^2; softplus sigmoid(s) = 1-e^-z.
DERIVATIVES_OF_OUTPUT: dict[str, Activation] = {
    "sigmoid": lambda z: z * (1 - z),
    "tanh": lambda z: 1 - z * z,
    "softsign": lambda z: (1 - z.abs()) ** 2,
    "relu": lambda z: (z > 0).to(z.dtype),
    "softplus": lambda z: -torch.expm1(-z),
}

# The ranges of the bounded activations' values (relu and softplus are unbounded above).
OUTPUT_BOUNDS: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0),
}

# Where each activation's values live: the range of its activation histograms (Figs. 4 and 6),
# so the peaks at 0 and at the asymptotes show. Unbounded ones get a range holding most values.
VALUE_RANGES: dict[str, tuple[float, float]] = {**OUTPUT_BOUNDS, "relu": (0.0, 4.0),
                                                 "softplus": (0.0, 4.0)}
