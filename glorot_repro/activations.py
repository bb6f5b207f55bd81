"""Activation functions by name: the paper's three (Sec. 2.3) and the ReLU family the lecture points to."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

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


def get_activation(name: str) -> Activation:
    return lookup(ACTIVATIONS, name, "activation")
