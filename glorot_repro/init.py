"""Weight initialisations by name. Each draws W ~ U[-b, b] with biases 0 (paper Sec. 2.3), so
Var[W] = b^2 / 3 and the rules differ only in the bound b."""
from __future__ import annotations

import math
from typing import Callable

import torch

from glorot_repro.errors import lookup

Bound = Callable[[int, int], float]


def standard_bound(fan_in: int, fan_out: int) -> float:
    """U[-1/sqrt(n), 1/sqrt(n)], n = fan-in (eq. 1): gives n Var[W] = 1/3 (eq. 15)."""
    return 1.0 / math.sqrt(fan_in)


def normalized_bound(fan_in: int, fan_out: int) -> float:
    """U[-sqrt(6)/sqrt(n_j + n_{j+1}), +...] (eq. 16): Var[W] = 2 / (n_j + n_{j+1}) (eq. 12)."""
    return math.sqrt(6.0 / (fan_in + fan_out))


INITS: dict[str, Bound] = {"standard": standard_bound, "normalized": normalized_bound}


def init_linear_(layer: torch.nn.Linear, name: str) -> None:
    """Initialise one layer in place: W ~ U[-b, b] by the named rule, b = 0."""
    bound = lookup(INITS, name, "init")(layer.in_features, layer.out_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)
        layer.bias.zero_()
