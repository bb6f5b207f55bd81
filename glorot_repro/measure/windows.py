"""The online training error of a stack of models, error/train and loss/train: measured on the
minibatches the step trains on, so it costs no forward pass of its own."""
from __future__ import annotations

import torch


class TrainingWindows:
    """The online training error of a stack of runs (error/train, loss/train): each run's summed
    loss and wrong answers since its last evaluation, kept on the device and added to for the
    whole stack at once, so an update costs no host sync."""

    def __init__(self, runs: int, device: torch.device):
        self.sums = torch.zeros(runs, 2, dtype=torch.float64, device=device)  # loss sum, wrong
        self.examples = [0] * runs

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """One update of every run: loss (K,) their mean costs, logits (K, B, classes), y (K, B)."""
        batch = y.shape[1]
        self.sums[:, 0] += loss * batch
        self.sums[:, 1] += (logits.argmax(-1) != y).sum(dim=1)
        self.examples = [n + batch for n in self.examples]

    def finite(self) -> list[bool]:
        """Whether each run's summed loss is still finite (one host sync for the stack)."""
        return torch.isfinite(self.sums[:, 0]).tolist()

    def take(self, k: int) -> tuple[float, float, int]:
        """Run k's loss sum, wrong answers and examples since its last take; starts it anew."""
        (loss_sum, wrong), examples = self.sums[k].tolist(), self.examples[k]
        self.sums[k].zero_()
        self.examples[k] = 0
        return loss_sum, wrong, examples

    def state(self, k: int) -> dict:
        """Run k's window as its checkpoint keeps it."""
        return {"window": self.sums[k].cpu(), "window_n": self.examples[k]}

    def load(self, k: int, state: dict) -> None:
        self.sums[k].copy_(state["window"])
        self.examples[k] = state["window_n"]
