"""The paper's linear-regime variance analysis (Sec. 4.2.1, eqs. 5-7 and 13-15), as predictions
to lay beside what the probes measure, and its extension to ReLU (He et al. 2015).

Layer l = 1..D has weights W^l of shape n_{l-1} -> n_l (n_0 = inputs); s^l = z^{l-1} W^l,
z^l = f(s^l), z^0 = x. Weights are centred and independent of what they multiply, so
  E[(s^l)^2]        = n_{l-1} Var[W^l] E[(z^{l-1})^2]                        (the step of eq. 5)
  Var[dC/ds^l]      = E[f'(s^l)^2] n_{l+1} Var[W^{l+1}] Var[dC/ds^{l+1}]      (the step of eq. 6)
  Var[dC/dW^l]      = E[(z^{l-1})^2] Var[dC/ds^l]   (per example)             (eq. 7)
and the activation enters through two factors, E[f(s)^2] / E[s^2] and E[f'(s)^2]:
- the linear regime (tanh, softsign: odd, f'(0) = 1, small s): both 1, which gives eqs. 5-6;
- ReLU: both exactly 1/2 for any symmetric s (and s^l is symmetric, W^l being so), which is why
  He et al. double the variance: with n Var[W] = 2, E[(s^l)^2] stays constant with depth.
Sigmoid and softplus have f(0) != 0 and no such closed form: they get no prediction.
Eq. 5 states Var[x] for centred inputs; for uncentred inputs (pixels in [0,1]) the first layer's
sum sees the second moment E[x^2], which is what we pass in."""
from __future__ import annotations

import math
from dataclasses import dataclass

from glorot_repro.nets.init import INITS

# Activations for which the linear-regime assumptions hold at 0 (odd, f'(0) = 1): there
# E[z^2] = Var[z], so eq. 5 predicts the activations' variance as the probes measure it.
LINEAR_REGIME = ("tanh", "softsign")

# (E[f(s)^2] / E[s^2], E[f'(s)^2]) for centred symmetric s, per activation with a prediction.
GAINS: dict[str, tuple[float, float]] = {"tanh": (1.0, 1.0), "softsign": (1.0, 1.0),
                                         "relu": (0.5, 0.5)}


@dataclass
class VariancePrediction:
    preact: list[float]  # E[(s^l)^2] = Var[s^l], l = 1..D
    act: list[float]  # E[(z^l)^2], l = 1..D: Var[z^l] in the linear regime
    grad: list[float]  # Var[dC/ds^l], l = 1..D
    wgrad: list[float]  # Var[dC/dW^l], l = 1..D (per example)


def weight_variances(init: str, sizes: list[int]) -> list[float]:
    """Var[W^l] of the named init, for the layers between consecutive sizes."""
    return [INITS[init].variance(a, b) for a, b in zip(sizes[:-1], sizes[1:])]


def predict_variances(activation: str, init: str, sizes: list[int], x_second_moment: float,
                      top_grad_var: float, top_wgrad_var: float) -> VariancePrediction:
    """`sizes` = [n_0, n_1, ..., n_D] (inputs, then hidden widths). Eq. 6 is relative to the top
    hidden layer, so the measured variances there anchor the backward predictions."""
    if activation not in GAINS:
        raise ValueError(f"no variance prediction for activation {activation!r}; "
                         f"predicted: {', '.join(GAINS)}")
    forward_gain, backward_gain = GAINS[activation]
    var_w = weight_variances(init, sizes)
    depth = len(sizes) - 1
    preact, act, z2 = [], [], x_second_moment  # z2: E[(z^{l-1})^2], the input's at l = 1
    for l in range(1, depth + 1):
        preact.append(sizes[l - 1] * var_w[l - 1] * z2)
        z2 = forward_gain * preact[-1]
        act.append(z2)
    # Going down through W^k (n_{k-1} -> n_k) sums n_k terms: the factor n_k Var[W^k], and the
    # derivative at layer k-1 multiplies by E[f'^2]. Relative to the top layer first:
    relative = [math.prod(backward_gain * sizes[k] * var_w[k - 1] for k in range(l + 1, depth + 1))
                for l in range(1, depth + 1)]
    grad = [top_grad_var * r for r in relative]
    # Measured weight gradients average over a probe set, which rescales every layer alike:
    # the profile of eq. 7 is anchored at the measured top layer, as eq. 6 is.
    inputs = [x_second_moment] + act[:-1]  # E[(z^{l-1})^2]
    wgrad = [top_wgrad_var * v_in * r / inputs[-1] for v_in, r in zip(inputs, relative)]
    return VariancePrediction(preact, act, grad, wgrad)
