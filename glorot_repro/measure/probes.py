"""Per-layer probes on a fixed probe set (300 test examples, as in the paper): what Figs. 2-4 and
6-10 plot. Runs only at logging steps, so the training step itself carries no hooks or copies."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from glorot_repro.config import LogConf
from glorot_repro.measure import tags
from glorot_repro.measure.stats import (Histogram, histogram, mean_singular_value, moments,
                                        percentiles)
from glorot_repro.measure.theory import LINEAR_REGIME, predict_variances
from glorot_repro.nets.activations import DERIVATIVES, VALUE_RANGES
from glorot_repro.nets.losses import cost
from glorot_repro.nets.model import DeepMLP


@dataclass
class Internals:
    x: torch.Tensor  # the probe inputs z^0
    pre: list[torch.Tensor]  # s^l, l = 1..D
    act: list[torch.Tensor]  # z^l
    # dC_x/ds^l for each probe example x (the lecture's delta^l); None where a hooked model's s^l
    # is not on the cost's graph
    grad: list[torch.Tensor | None]
    logit_grad: torch.Tensor  # dC_x/ds^{D+1} at the softmax's input, per probe example
    # dC/dW^l, l = 1..D+1, of the mean cost over the probe set; None where hooks cannot tell
    # which weight feeds a layer, or where several do
    wgrad: list[torch.Tensor | None]
    # Where several weighted modules feed layer l (a net with branches, read by hooks): dC/dW of
    # each, by (l, the module's qualified name); wgrad[l - 1] is None there
    wgrad_by_module: dict[tuple[int, str], torch.Tensor] = field(default_factory=dict)


def layer_internals(model: DeepMLP, x: torch.Tensor, y: torch.Tensor, loss: str) -> Internals:
    """One forward and one backward pass on the probe set. The per-example deltas come from the
    summed cost (row i of dSum/ds^l is dC_i/ds^l); weight gradients are rescaled to the mean."""
    logits, pre, act = model(x, internals=True)
    weights = [layer.weight for layer in model.layers]
    total = cost(logits, y, loss) * len(y)
    grads = torch.autograd.grad(total, pre + [logits] + weights)
    depth = len(pre)
    return Internals(x, [s.detach() for s in pre], [z.detach() for z in act],
                     list(grads[:depth]), grads[depth], [g / len(y) for g in grads[depth + 1:]])


def minibatch_wgrad_std(internals: Internals, batch_size: int) -> list[float]:
    """Fig. 9's spread of the weight gradients as SGD sees them: for l = 1..D+1, the standard
    deviation over the entries of dC/dW^l of consecutive minibatches of `batch_size` probe
    examples (300 / 10 = 30 minibatches), pooled over the minibatches.

    BP4 per example, dC_x/dW^l = delta_x^l (z_x^{l-1})^T, averaged over each minibatch; one
    forward and backward pass serves every minibatch. The gradient of the mean cost over all 300
    examples (wgrad/.../std) averages 30 such gradients, so it is narrower and noisier in time."""
    n_batches = len(internals.x) // batch_size
    used = n_batches * batch_size
    inputs = [internals.x] + internals.act
    deltas = internals.grad + [internals.logit_grad]
    out = []
    for z, delta in zip(inputs, deltas):
        z_b = z[:used].reshape(n_batches, batch_size, -1)
        d_b = delta[:used].reshape(n_batches, batch_size, -1)
        total = squares = 0.0
        for b in range(n_batches):  # one (out, in) gradient at a time: no (30, out, in) tensor
            g = (d_b[b].T @ z_b[b]).double() / batch_size
            total, squares = total + g.sum(), squares + g.pow(2).sum()
        count = n_batches * z.shape[1] * delta.shape[1]
        out.append(((squares - total ** 2 / count) / (count - 1)).sqrt().item())
    return out


def layer_jacobians(model: DeepMLP, pre: list[torch.Tensor], examples: int) -> list[torch.Tensor]:
    """J^l = dz^{l+1}/dz^l = diag(f'(s^{l+1})) W^{l+1}, l = 1..D-1, for the first `examples`
    probe examples: a (examples, n_{l+1}, n_l) batch per layer."""
    fprime = DERIVATIVES[model.activation_name]
    return [fprime(pre[l][:examples]).unsqueeze(2) * model.hidden[l].weight.detach().unsqueeze(0)
            for l in range(1, len(pre))]


def layer_scalars(internals: Internals) -> dict[str, float]:
    """act/, preact/, grad/ and wgrad/ moments and percentiles: the tags any model's hidden layers
    give, whether read from DeepMLP's internals or from hooks (glorot_repro/measure/hooks.py)."""
    out: dict[str, float] = {}
    for l, z in tags.numbered(internals.act):
        stats = moments(z)
        out |= {tags.layer("act", l, k): v for k, v in stats.items()}
        # Fig. 2's band, mean +- std, as its own tags: TensorBoard's margin chart draws a band
        # between two logged series.
        out[tags.layer("act", l, "mean_minus_std")] = stats["mean"] - stats["std"]
        out[tags.layer("act", l, "mean_plus_std")] = stats["mean"] + stats["std"]
        p02, p98 = percentiles(z)
        # Fig. 3's markers mirror each other about 0: +-(98th percentile of |z|).
        (abs_p98,) = percentiles(z.abs(), (0.98,))
        out |= {tags.layer("act", l, "p02"): p02, tags.layer("act", l, "p98"): p98,
                tags.layer("act", l, "abs_p98"): abs_p98}
    for l, s in tags.numbered(internals.pre):
        out |= {tags.layer("preact", l, k): v for k, v in moments(s).items()}
    for l, d in tags.numbered(internals.grad):
        out |= {tags.layer("grad", l, k): v for k, v in moments(d).items()}
    for l, g in tags.numbered(internals.wgrad):
        out |= {tags.layer("wgrad", l, k): v for k, v in moments(g).items()}
    for (l, name), g in internals.wgrad_by_module.items():
        out |= {tags.feeder("wgrad", l, name, k): v for k, v in moments(g).items()}
    return out


def probe_scalars(model: DeepMLP, internals: Internals, jacobian_examples: int,
                  batch_size: int) -> dict[str, float]:
    """Scalars under the tags of docs/tags.md: act/, preact/, grad/, wgrad/, jacobian/."""
    out = layer_scalars(internals)
    for l, std in tags.numbered(minibatch_wgrad_std(internals, batch_size)):
        out[tags.layer("wgrad", l, "batch_std")] = std
    if jacobian_examples:
        with torch.no_grad():
            for l, jac in tags.numbered(layer_jacobians(model, internals.pre, jacobian_examples)):
                out[tags.layer("jacobian", l, "mean_sv")] = mean_singular_value(jac)
    return out


def probe_histograms(act_ranges: list[tuple[float, float]], internals: Internals,
                     grad_range: float, wgrad_range: float, bins: int) -> dict[str, Histogram]:
    """Fixed bins per quantity, the same at every step, so histograms compare across time and
    runs: activations over their activation's range (`act_ranges`, one per layer; Figs. 4, 6);
    gradients on +-range around the 0-peak (Figs. 7, 8)."""
    out = {tags.layer("act", l): histogram(z, *act_ranges[l - 1], bins) for l, z in tags.numbered(internals.act)}
    out |= {tags.layer("grad", l): histogram(d, -grad_range, grad_range, bins)
            for l, d in tags.numbered(internals.grad)}
    out |= {tags.layer("wgrad", l): histogram(g, -wgrad_range, wgrad_range, bins)
            for l, g in tags.numbered(internals.wgrad)}
    out |= {tags.feeder("wgrad", l, name): histogram(g, -wgrad_range, wgrad_range, bins)
            for (l, name), g in internals.wgrad_by_module.items()}
    return out


def predicted_variances(activation: str, init: str, sizes: list[int], internals: Internals):
    """Eqs. 5-7 for a net of layer sizes `sizes` (inputs, then the D hidden layers), anchored on
    the probe set as every prediction in the project is: the forward ones at the inputs' E[x^2],
    the backward ones (relative, eqs. 6-7) at the measured delta^D and dC/dW^D of the top hidden
    layer D."""
    top = len(sizes) - 1  # D: index top - 1 in the per-layer lists
    return predict_variances(activation, init, sizes,
                             internals.x.double().pow(2).mean().item(),
                             internals.grad[top - 1].double().var().item(),
                             internals.wgrad[top - 1].double().var().item())


def theory_scalars(activation: str, init: str, sizes: list[int],
                   internals: Internals) -> dict[str, float]:
    """Eqs. 5-7 predictions as standard deviations under theory/..., beside the measured ones.
    Hidden layers only: the softmax layer is not part of the paper's linear-regime argument."""
    pred = predicted_variances(activation, init, sizes, internals)
    out = {}
    for kind, variances in (("act", pred.act), ("grad", pred.grad), ("wgrad", pred.wgrad)):
        out |= {tags.theory(kind, l): v ** 0.5 for l, v in tags.numbered(variances)}
    return out


def run_probes(model: DeepMLP, internals: Internals, update: int, log: LogConf, activation: str,
               init: str, batch_size: int) -> tuple[dict[str, float], dict[str, Histogram]]:
    """Everything logged at one probe step, from the probe set's internals (layer_internals, or
    hooks.capture under train.step=autograd): scalars always; histograms every `log.histograms`
    updates (update 0 included); layer Jacobians (eigensolves, the costly part) at update 0 and
    with the histograms; the theory beside the measurement at update 0, where the paper's
    analysis applies. `batch_size`: the SGD minibatch, whose weight-gradient spread is logged."""
    with_histograms = log.histograms > 0 and update % log.histograms == 0
    jacobians = update == 0 or with_histograms
    scalars = probe_scalars(model, internals, log.jacobian_examples if jacobians else 0,
                            batch_size)
    if update == 0 and activation in LINEAR_REGIME:
        sizes = [internals.x.shape[1]] + [layer.out_features for layer in model.hidden]
        scalars |= theory_scalars(activation, init, sizes, internals)
    act_ranges = [VALUE_RANGES[activation]] * len(internals.act)
    histograms = (probe_histograms(act_ranges, internals, log.grad_range, log.wgrad_range,
                                   log.bins) if with_histograms else {})
    return scalars, histograms
