"""The in-memory form every dataset takes: three (inputs, labels) pairs of tensors."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Splits:
    """Train / valid / test tensors. Inputs are float32 (N, n_inputs) in [0, 1]; labels int64 (N,)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    valid_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @property
    def n_inputs(self) -> int:
        return self.train_x.shape[1]

    @property
    def n_classes(self) -> int:
        return int(torch.cat([self.train_y, self.valid_y, self.test_y]).max()) + 1

    def to(self, device: torch.device | str) -> "Splits":
        return Splits(*(t.to(device) for t in (self.train_x, self.train_y, self.valid_x,
                                                  self.valid_y, self.test_x, self.test_y)))
