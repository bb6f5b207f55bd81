"""Weight initialisations by name. Each fills a layer's weight matrix W (shape fan_out x fan_in)
and says which variance Var[W] it gives, for the variance analysis (theory.py, eqs. 5-7).
Biases always start at 0 (paper Sec. 2.3).

The paper's two rules and the He and LeCun rules draw W ~ U[-b, b], so Var[W] = b^2 / 3 and the
rules differ only in the bound b. He et al. (2015) and LeCun et al. (1998) state a variance (He
et al. draw from a normal); we draw from the uniform of that variance, as the paper does, so that
all five rules differ in their scale alone (and He matches torch's kaiming_uniform_). Orthogonal
init is the one that is not elementwise i.i.d.: the whole matrix is drawn at once."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from glorot_repro.errors import lookup

Bound = Callable[[int, int], float]  # (fan_in, fan_out) -> b of U[-b, b]


@dataclass(frozen=True)
class Init:
    fill: Callable[[torch.Tensor], None]  # fills a (fan_out, fan_in) weight matrix in place
    variance: Callable[[int, int], float]  # (fan_in, fan_out) -> E[W_ij^2] over the entries


def standard_bound(fan_in: int, fan_out: int) -> float:
    """U[-1/sqrt(n), 1/sqrt(n)], n = fan-in (eq. 1): gives n Var[W] = 1/3 (eq. 15)."""
    return 1.0 / math.sqrt(fan_in)


def normalized_bound(fan_in: int, fan_out: int) -> float:
    """U[-sqrt(6)/sqrt(n_j + n_{j+1}), +...] (eq. 16): Var[W] = 2 / (n_j + n_{j+1}) (eq. 12)."""
    return math.sqrt(6.0 / (fan_in + fan_out))


def he_bound(fan_in: int, fan_out: int) -> float:
    """Var[W] = 2 / fan_in (He et al. 2015): a ReLU zeroes half of its inputs' second moment,
    and the 2 gives it back, so Var[s^l] stays constant with depth. Computed as torch's
    kaiming_uniform_(nonlinearity="relu") does: sqrt(3) * gain / sqrt(fan_in), gain sqrt(2)."""
    return math.sqrt(3.0) * (math.sqrt(2.0) / math.sqrt(fan_in))


def lecun_bound(fan_in: int, fan_out: int) -> float:
    """Var[W] = 1 / fan_in (LeCun et al. 1998, "Efficient BackProp"): the forward wish
    n_i Var[W^i] = 1 of Sec. 4.2.1 alone, without the backward one."""
    return math.sqrt(3.0 / fan_in)


def uniform(bound: Bound) -> Init:
    """W ~ U[-b, b], b = bound(fan_in, fan_out): Var[W] = b^2 / 3."""

    def fill(weight: torch.Tensor) -> None:
        b = bound(weight.shape[1], weight.shape[0])
        weight.uniform_(-b, b)

    return Init(fill, lambda fan_in, fan_out: bound(fan_in, fan_out) ** 2 / 3)


def orthogonal_fill(weight: torch.Tensor) -> None:
    """A uniformly random semi-orthogonal matrix (Saxe et al. 2014): orthonormal rows if
    fan_out <= fan_in, orthonormal columns otherwise. Gain 1, whatever the activation: in the
    linear regime (tanh, softsign; f'(0) = 1) every singular value of the layer Jacobian is then
    1, the ideal Sec. 4.2.2 measures against. A ReLU net would want gain sqrt(2), as He's rule has;
    we keep one scale per name, as the uniform rules do."""
    torch.nn.init.orthogonal_(weight, gain=1.0)


def orthogonal_variance(fan_in: int, fan_out: int) -> float:
    """Orthonormal rows (fan_out <= fan_in): the squares sum to fan_out over fan_out * fan_in
    entries, a mean square of 1/fan_in; orthonormal columns: 1/fan_out. Together:
    1/max(fan_in, fan_out)."""
    return 1.0 / max(fan_in, fan_out)


INITS: dict[str, Init] = {
    "standard": uniform(standard_bound),
    "normalized": uniform(normalized_bound),
    "he": uniform(he_bound),
    "lecun": uniform(lecun_bound),
    "orthogonal": Init(orthogonal_fill, orthogonal_variance),
}


def init_linear_(layer: torch.nn.Linear, name: str) -> None:
    """Initialise one layer in place: W by the named rule, b = 0."""
    init = lookup(INITS, name, "init")
    with torch.no_grad():
        init.fill(layer.weight)
        layer.bias.zero_()
