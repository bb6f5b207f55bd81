"""Unsupervised pre-training before supervised training: the method Fig. 11 sets the inits
against ("supervised fine-tuning after unsupervised pre-training with stacked denoising
auto-encoders", Vincent et al. 2008).

`pretrain.name=dae`: greedy and layer-wise. Hidden layer l = 1..D in turn is the encoder of a
denoising auto-encoder of its input z^{l-1} (the layers below it already pre-trained and fixed):
  corrupt   x~ = z^{l-1} with each entry zeroed with probability `pretrain.noise` (masking noise)
  encode    h  = f(x~ W^l + b^l)           (the layer itself: its weights are what is learnt)
  decode    a  = h W^l^T + c               (tied weights, as Vincent et al.; c is its own bias)
  cost      reconstruction of the clean z^{l-1} from a, summed over units, mean over the minibatch
trained with plain SGD for `pretrain.updates_per_layer` updates on minibatches of
`train.batch_size` fresh training examples. The decoder bias c is dropped afterwards; the softmax
layer is not pre-trained. The cost depends on where z^{l-1} lives:
- in a bounded range [lo, hi] (pixels in [0,1] or [-1,1]; sigmoid, tanh, softsign units): the
  cross-entropy between (z - lo)/(hi - lo) and sigmoid(a), i.e. Vincent et al.'s cross-entropy
  for [0,1] inputs, with the range mapped onto [0,1] (for [-1,1] the decoder is tanh(a/2));
- unbounded (relu, softplus units): squared error of the linear decoder a.

Pre-training only changes the initial weights, so any training step fine-tunes it afterwards.
Its updates come first on the step axis of the run's event files (run.py)."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from glorot_repro.config import PretrainConf
from glorot_repro.data import Stream
from glorot_repro.errors import ConfigError
from glorot_repro.measure import tags
from glorot_repro.nets.activations import OUTPUT_BOUNDS
from glorot_repro.nets.model import DeepMLP

PRETRAININGS = ("none", "dae")
# Masking noise comes from its own generator, seeded with the run's seed plus this offset, so it
# draws other numbers than the Shapeset stream seeded with the seed itself.
MASK_SEED_OFFSET = 2008

Report = Callable[[int, dict[str, float]], None]  # (step, scalars) -> logged
Stopped = Callable[[], bool]  # a stop was requested (Ctrl-C, SIGTERM)


def pretrain_updates(pc: PretrainConf, depth: int) -> int:
    """The SGD updates pre-training takes, all before the first supervised one."""
    return depth * pc.updates_per_layer if pc.name == "dae" else 0


def pretrain(model: DeepMLP, stream: Stream, pc: PretrainConf, batch_size: int, seed: int,
             input_bounds: tuple[float, float], report: Report,
             stopped: Stopped = lambda: False) -> bool:
    """Pre-train `model` in place as pc.name says (none: leave it as initialised), on
    minibatches of `batch_size` (train.batch_size); `seed` (the run's) seeds the masking noise.
    Returns False if `stopped()` ended it before its last update."""
    if pc.name == "dae":
        return pretrain_dae(model, stream, pc, batch_size, seed, input_bounds, report, stopped)
    return True


def reconstruction_cost(a: torch.Tensor, target: torch.Tensor,
                        bounds: tuple[float, float] | None) -> torch.Tensor:
    """Decoder pre-activations `a` against the clean input `target`: cross-entropy on [0,1]
    after mapping bounded inputs there, squared error for unbounded ones. Summed over units,
    mean over the minibatch."""
    if bounds is None:
        per_unit = 0.5 * (a - target) ** 2
    else:
        lo, hi = bounds
        per_unit = F.binary_cross_entropy_with_logits(a, (target - lo) / (hi - lo),
                                                      reduction="none")
    return per_unit.sum(dim=1).mean()


def pretrain_dae(model: DeepMLP, stream: Stream, p: PretrainConf, batch_size: int, seed: int,
                 input_bounds: tuple[float, float], report: Report,
                 stopped: Stopped = lambda: False) -> bool:
    """Greedy layer-wise DAE pre-training of `model`'s hidden layers in place (module docstring).
    Reports the mean reconstruction cost since the last report as pretrain/layer<l>/reconstruction
    every `p.log_every` updates and at each layer's last, at step = pre-training updates
    done so far (over all layers). A cost that is no longer finite stops the run: fine-tuning
    from NaN weights would only waste the budget. Checks `stopped()` before each update and
    returns False if it says so (nothing of pre-training is kept then), True when done."""
    weight = model.output.weight
    masks = torch.Generator(device=weight.device).manual_seed(seed + MASK_SEED_OFFSET)
    bounds = [input_bounds] + [OUTPUT_BOUNDS.get(model.activation_name)] * (len(model.hidden) - 1)
    step = 0
    for l, layer in enumerate(model.hidden):
        c = torch.zeros(layer.in_features, dtype=weight.dtype, device=weight.device,
                        requires_grad=True)
        params = [layer.weight, layer.bias, c]
        window, n = torch.zeros((), dtype=torch.float64, device=weight.device), 0
        for k in range(1, p.updates_per_layer + 1):
            if stopped():
                return False
            z, _ = stream.next_batch(batch_size)
            with torch.no_grad():
                for below in model.hidden[:l]:
                    z = model.f(below(z))
            keep = torch.rand(z.shape, generator=masks, device=z.device) >= p.noise
            h = model.f(layer(z * keep))
            cost = reconstruction_cost(h @ layer.weight + c, z, bounds[l])
            grads = torch.autograd.grad(cost, params)
            with torch.no_grad():
                for param, grad in zip(params, grads):
                    param.sub_(p.lr * grad)
            window += cost.detach()  # on the device: one host sync per report, not per update
            n += 1
            step += 1
            if k % p.log_every == 0 or k == p.updates_per_layer:
                mean = window.item() / n
                if not math.isfinite(mean):
                    raise ConfigError(f"pre-training diverged: the reconstruction cost of layer "
                                      f"{l + 1} became {mean} by its update {k}; lower "
                                      f"pretrain.lr (now {p.lr})")
                report(step, {tags.pretrain(l + 1): mean})
                window.zero_()
                n = 0
    return True
