"""The paper's deep MLP: `depth` hidden layers of `width` units and a linear softmax output (Sec. 2.3)."""
from __future__ import annotations

import torch
from torch import nn

from glorot_repro.nets.activations import activation_module
from glorot_repro.nets.init import init_linear_


class DeepMLP(nn.Module):
    """Hidden layer l computes s^l = z^{l-1} W^l + b^l and z^l = f(s^l) (paper Sec. 4.2.1 notation).

    `forward(x, internals=True)` also returns the lists [s^1..s^D] and [z^1..z^D], so probes read a
    layer's internals without module hooks (and the model stays usable under torch.func)."""

    def __init__(self, n_inputs: int, n_classes: int, depth: int, width: int,
                 activation: str = "tanh", init: str = "normalized"):
        super().__init__()
        self.activation_name = activation
        self.f = activation_module(activation)  # one module, applied to every hidden layer
        sizes = [n_inputs] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.output = nn.Linear(width, n_classes)
        # The authors' code initialises the softmax layer like the hidden ones (docs/paper.md §2).
        for layer in self.layers:
            init_linear_(layer, init)

    @property
    def layers(self) -> list[nn.Linear]:
        """W1..W(D+1): the hidden layers from the input, then the softmax layer."""
        return [*self.hidden, self.output]

    def forward(self, x: torch.Tensor, internals: bool = False):
        pre, post = [], []
        z = x
        for layer in self.hidden:
            s = layer(z)
            z = self.f(s)
            if internals:
                pre.append(s)
                post.append(z)
        logits = self.output(z)
        return (logits, pre, post) if internals else logits
