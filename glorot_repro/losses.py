"""The training costs: the paper's negative log-likelihood of the softmax, and the quadratic cost
that Fig. 5 (Sec. 5) compares it with."""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("nll", "quadratic")


def cost(logits: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean over the minibatch of -log P(y|x), or of 1/2 ||softmax(logits) - onehot(y)||^2."""
    if kind == "nll":
        return F.cross_entropy(logits, y)
    residual = logits.softmax(dim=1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)
    return 0.5 * residual.pow(2).sum(dim=1).mean()
