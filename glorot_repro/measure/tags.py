"""Every TensorBoard tag the project writes and reads (docs/tags.md), built and
parsed here only, and the layer numbering they carry.

Layer numbering, the paper's: hidden layers l = 1..D in forward order (z^l, s^l, delta^l);
l = D+1 is the softmax layer, which only the weight-gradient tags reach (W^{D+1} feeds it). The
paper's per-layer figures show the hidden layers: `is_hidden`.

    error/{train,valid,test}, loss/train          percent wrong, mean cost (Figs. 11, 12)
    <quantity>/layer<l>/<stat>                    a probe's scalar: act/layer3/std
    <quantity>/layer<l>                           its histogram: act/layer3
    wgrad/layer<l>[<module>]/<stat>               one of several weights feeding layer l, by the
                                                  module's qualified name (hooks.watch on a net
                                                  with branches): wgrad/layer7[layer2.0.conv2]/std
    theory/<quantity>/layer<l>/std                eqs. 5-7's prediction beside act/grad/wgrad
    pretrain/layer<l>/reconstruction              the denoising auto-encoder's cost (Sec. 2.3)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, TypeVar

ERROR_TRAIN, ERROR_VALID, ERROR_TEST = "error/train", "error/valid", "error/test"
ERRORS = (ERROR_TRAIN, ERROR_VALID, ERROR_TEST)
LOSS_TRAIN = "loss/train"

T = TypeVar("T")


def layer(quantity: str, l: int, stat: str | None = None) -> str:
    """act/layer3/std; without a stat, the histogram's tag act/layer3."""
    return f"{quantity}/layer{l}" + (f"/{stat}" if stat else "")


def feeder(quantity: str, l: int, module: str, stat: str | None = None) -> str:
    """wgrad/layer7[layer2.0.conv2]/std: the statistic of one of the weighted modules feeding
    layer l, named by its qualified name; without a stat, its histogram's tag."""
    return f"{quantity}/layer{l}[{module}]" + (f"/{stat}" if stat else "")


def theory(quantity: str, l: int) -> str:
    """The linear-regime prediction of <quantity>/layer<l>/std (probes.theory_scalars)."""
    return "theory/" + layer(quantity, l, "std")


def pretrain(l: int) -> str:
    return layer("pretrain", l, "reconstruction")


@dataclass(frozen=True)
class LayerTag:
    quantity: str  # act, preact, grad, wgrad, jacobian, pretrain
    layer: int
    stat: str | None  # None for a histogram
    theory: bool = False
    module: str | None = None  # the feeder's qualified name in wgrad/layer7[layer2.0.conv2]


_LAYER_TAG = re.compile(r"(theory/)?([a-z]+)/layer(\d+)(?:\[([^\]/]+)\])?(?:/(\w+))?")


def parse(tag: str) -> LayerTag | None:
    """The parts of a per-layer tag; None for any other tag (error/test, ...)."""
    match = _LAYER_TAG.fullmatch(tag)
    if match is None:
        return None
    prefix, quantity, l, module, stat = match.groups()
    return LayerTag(quantity, int(l), stat, prefix is not None, module)


def numbered(per_layer: Iterable[T | None]) -> Iterator[tuple[int, T]]:
    """(l, item) for l = 1, 2, ..., skipping the layers with no item (a hooked model's layer whose
    delta or weight is out of the hooks' reach)."""
    return ((l, item) for l, item in enumerate(per_layer, start=1) if item is not None)


def is_hidden(l: int, depth: int) -> bool:
    """Whether layer l of a net with `depth` hidden layers is hidden (not the softmax layer)."""
    return 1 <= l <= depth
