"""The training costs: the paper's negative log-likelihood of the softmax, and the quadratic cost
that Fig. 5 (Sec. 5) compares it with."""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("nll", "quadratic")


def example_costs(logits: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """The cost of each example: -log P(y|x), or 1/2 ||softmax(logits) - onehot(y)||^2.
    Classes lie on the last axis; any leading axes (examples, replicas) are kept."""
    if kind == "nll":
        return -logits.log_softmax(dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
    residual = logits.softmax(dim=-1) - F.one_hot(y, logits.shape[-1]).to(logits.dtype)
    return 0.5 * residual.pow(2).sum(dim=-1)


def cost(logits: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """The mean cost over a minibatch: what SGD descends."""
    return example_costs(logits, y, kind).mean()
