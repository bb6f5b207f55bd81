"""The init explorer: how a freshly initialised net of any activation x init x depth carries its
signal forward and its gradient backward, layer by layer, beside the variance analysis'
prediction (theory.py: eqs. 5-7 of Sec. 4.2.1, and He et al.'s factor 1/2 per layer for ReLU).

`init_profile` is pure: a net and a batch in, a tidy table out, which figures/explorer.py draws
and scripts/init_explorer.py writes."""
from __future__ import annotations

import math

import pandas as pd
import torch

from glorot_repro.errors import ConfigError, lookup
from glorot_repro.measure.probes import layer_internals, predicted_variances
from glorot_repro.measure.stats import moments
from glorot_repro.measure.theory import GAINS, LINEAR_REGIME
from glorot_repro.nets.activations import ACTIVATIONS
from glorot_repro.nets.init import INITS
from glorot_repro.nets.model import DeepMLP
from glorot_repro.rng import seed_everything

# What is measured per hidden layer l, in the probes' tag names: activations z^l, pre-activations
# s^l and back-propagated gradients dC/ds^l, each per example. (Weight gradients are left out:
# the probes measure those of the mean cost over the batch, which eq. 7's per-example prediction
# matches only up to a factor that differs between layers once examples are correlated, as they
# become in deep ReLU nets.)
QUANTITIES = {"act": "activations z", "preact": "pre-activations s",
              "grad": "back-propagated gradients dC/ds"}
INPUTS = ("dataset", "gaussian")  # the dataset's probe set, or standard-normal inputs


def init_profile(activation: str, init: str, depth: int, width: int, x: torch.Tensor,
                 y: torch.Tensor, n_classes: int, seed: int = 0, loss: str = "nll") -> pd.DataFrame:
    """The standard deviation of each quantity in each hidden layer of a net at initialisation,
    measured on one batch (x, y), and predicted where theory.py has a prediction (else NaN).

    The net is seeded as training seeds it, so it is the net a run with this seed starts from.
    Predictions: the forward ones (eq. 5) start from the batch's E[x^2]; the backward ones (eq. 6)
    are relative, anchored at the measured top hidden layer (probes.predicted_variances).
    Activations are predicted only in the linear regime, where E[z^2] = Var[z]; for ReLU the
    prediction is of E[z^2], not of the standard deviation drawn here, so it is left out.
    Columns: activation, init, quantity, layer (1..depth), measured, predicted."""
    seed_everything(seed)
    model = DeepMLP(x.shape[1], n_classes, depth, width, activation, init).to(x.device)
    internals = layer_internals(model, x, y, loss)
    measured = {"act": internals.act, "preact": internals.pre, "grad": internals.grad}
    predicted: dict[str, list[float]] = {}
    if activation in GAINS:
        sizes = [x.shape[1]] + [width] * depth
        pred = predicted_variances(activation, init, sizes, internals)
        predicted = {"preact": pred.preact, "grad": pred.grad}
        if activation in LINEAR_REGIME:
            predicted["act"] = pred.act
    rows = []
    for quantity, tensors in measured.items():
        variances = predicted.get(quantity, [math.nan] * depth)
        rows += [{"activation": activation, "init": init, "quantity": quantity, "layer": l,
                  "measured": moments(t)["std"], "predicted": math.sqrt(v)}
                 for l, (t, v) in enumerate(zip(tensors, variances), start=1)]
    return pd.DataFrame(rows)


def gaussian_batch(n: int, n_inputs: int, n_classes: int, seed: int,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard-normal inputs (centred, E[x^2] = 1: the setting of eq. 5 as stated) and uniformly
    random labels, from their own generator."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_inputs, generator=g)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return x.to(device), y.to(device)


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """'tanh:standard,relu:he' -> [('tanh', 'standard'), ('relu', 'he')], each name checked."""
    pairs = []
    for item in text.split(","):
        activation, sep, init = item.partition(":")
        if not sep:
            raise ConfigError(f"--pairs item {item!r} is not activation:init, e.g. tanh:normalized")
        lookup(ACTIVATIONS, activation, "activation")
        lookup(INITS, init, "init")
        pairs.append((activation, init))
    return pairs
