"""Which weighted modules feed each layer of a hooked model, read from the autograd graph of one
forward pass rather than from the order the modules ran in (which misattributes a weight once
a net has branches: a ResNet's shortcut conv runs after the block's conv2, yet both feed the
block's last ReLU).

W^l of the paper (s^l = z^{l-1} W^l + b^l, Sec. 4.2.1) generalises to: the Linear and conv
modules whose outputs reach s^l through weightless ops only (BatchNorm, additions, pooling,
reshapes), without passing through another layer's s or z.
"""
from __future__ import annotations

from typing import Hashable, Sequence, TypeVar

T = TypeVar("T")


def feeders(starts: Sequence[Hashable | None], s_nodes: set, z_nodes: set,
            weighted: dict[Hashable, T], order: dict[T, int]) -> list[list[T]]:
    """For each start node (the grad_fn of a layer's s^l, or of the model's output; None where
    it is off the graph), the weighted modules it reaches backward: walking next_functions, the
    walk ends at a weighted module's output node (`weighted`: node -> module, which it adds), at
    the layers' z nodes and at the other layers' s nodes. Each list in forward order (`order`)."""
    out = []
    for start in starts:
        found, seen, stack = [], {start}, [start] if start is not None else []
        while stack:
            node = stack.pop()
            if node in weighted:
                if weighted[node] not in found:
                    found.append(weighted[node])
                continue
            if node in z_nodes or (node in s_nodes and node is not start):
                continue
            for nxt, _ in node.next_functions:
                if nxt is not None and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        out.append(sorted(found, key=order.__getitem__))
    return out
