"""The paper's linear-regime variance analysis (Sec. 4.2.1, eqs. 5-7 and 13-15), as predictions
to lay beside what the probes measure.

Layer l = 1..D has weights W^l of shape n_{l-1} -> n_l (n_0 = inputs); s^l = z^{l-1} W^l,
z^l = f(s^l), z^0 = x. In the linear regime f'(0) = 1 (tanh, softsign) and weights are centred:
  Var[z^l]          = E[x^2] * prod_{k<=l} n_{k-1} Var[W^k]                 (eq. 5)
  Var[dC/ds^l]      = Var[dC/ds^D] * prod_{l<k<=D} n_k Var[W^k]            (eq. 6)
  Var[dC/dW^l]      = Var[z^{l-1}] * Var[dC/ds^l]   (per example)           (eq. 7)
Eq. 5 states Var[x] for centred inputs; for uncentred inputs (pixels in [0,1]) the first layer's
sum sees the second moment E[x^2], which is what we pass in."""
from __future__ import annotations

import math
from dataclasses import dataclass

from glorot_repro.init import INITS

# Activations for which the linear-regime assumptions hold at 0 (odd, f'(0) = 1).
LINEAR_REGIME = ("tanh", "softsign")


@dataclass
class VariancePrediction:
    act: list[float]  # Var[z^l], l = 1..D
    grad: list[float]  # Var[dC/ds^l], l = 1..D
    wgrad: list[float]  # Var[dC/dW^l], l = 1..D (per example)


def weight_variances(init: str, sizes: list[int]) -> list[float]:
    """Var[W^l] = b^2/3 for U[-b, b], for layers between consecutive sizes."""
    return [INITS[init](a, b) ** 2 / 3 for a, b in zip(sizes[:-1], sizes[1:])]


def predict_variances(init: str, sizes: list[int], x_second_moment: float,
                      top_grad_var: float, top_wgrad_var: float) -> VariancePrediction:
    """`sizes` = [n_0, n_1, ..., n_D] (inputs, then hidden widths). Eq. 6 is relative to the top
    hidden layer, so the measured variances there anchor the backward predictions."""
    var_w = weight_variances(init, sizes)
    depth = len(sizes) - 1
    act = [x_second_moment * math.prod(sizes[k - 1] * var_w[k - 1] for k in range(1, l + 1))
           for l in range(1, depth + 1)]
    # Going down through W^k (n_{k-1} -> n_k) sums n_k terms: the factor n_k Var[W^k].
    grad = [top_grad_var * math.prod(sizes[k] * var_w[k - 1] for k in range(l + 1, depth + 1))
            for l in range(1, depth + 1)]
    per_example = [v_in * g for v_in, g in zip([x_second_moment] + act[:-1], grad)]
    # Measured weight gradients average over a probe set, which rescales every layer alike:
    # the profile of eq. 7 is anchored at the measured top layer, as eq. 6 is.
    wgrad = [top_wgrad_var * w / per_example[-1] for w in per_example]
    return VariancePrediction(act, grad, wgrad)
