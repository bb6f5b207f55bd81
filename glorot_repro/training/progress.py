"""A run's position: where it stands and the best it has seen. Its checkpoint carries it beside
the tensors; its summary reads it."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Progress:
    """Everything about a run's position that a checkpoint carries besides tensors."""
    update: int = 0
    best_valid_error: float = math.inf
    test_error_at_best_valid: float = math.nan
    best_update: int = -1
    last_valid_error: float = math.nan
    last_test_error: float = math.nan
    last_eval_update: int = -1  # the update of last_valid_error and last_test_error
    seconds: float = 0.0  # wall time spent in this run, summed over resumed segments
    checked: int = 0  # the last update at which the loss was seen finite

    def evaluated(self, u: int, valid_error: float, test_error: float) -> None:
        """An evaluation at update u: the last errors, and the best validation error's."""
        self.last_valid_error, self.last_test_error, self.last_eval_update = (
            valid_error, test_error, u)
        if valid_error < self.best_valid_error:
            self.best_valid_error, self.test_error_at_best_valid = valid_error, test_error
            self.best_update = u
