"""CPU against CUDA: one small stack trained on the CPU, on the device, and on the device with
each update a CUDA graph replay (glorot_repro/training/fast/graphs.py), from the same weights on the same data.

    python scripts/device_agreement.py                  # --device cuda
    python scripts/device_agreement.py --device cpu     # the script itself on a CPU (tests):
                                                        # "graphs" is the uncaptured stand-in
Four cases, float64 and float32 x train.defer 1 and 3: K=4 models (2 standard, 2 normalized init,
learning rates 0.01 to 0.1, where training does not amplify rounding) of a 1024-64-64-64-9 tanh
net, minibatch 10, --updates SGD updates on Shapeset-3x2 minibatches drawn on the CPU. With
defer 3 every hidden layer defers its updates, so three graphs (one per phase) are replayed. Each
case prints the largest absolute difference of any weight or bias after the updates, or of any
update's cost:
  max|cpu-cuda|          CPU against the device, eager: rounding only (other kernels, sum orders)
  max|cpu-cuda+graphs|   CPU against the device with graphs
  max|cuda-cuda+graphs|  eager against graphs on the device: the same kernels, expected 0
and `ok` when all are within the case's tolerance: float64 1e-9, float32 1e-4 (on a CPU, float32
against float64 differs by about 1e-6 here). Exit 1 otherwise."""
from __future__ import annotations

import argparse
import sys

import torch

from glorot_repro.data.streams import ShapesetStream
from glorot_repro.nets.model import DeepMLP
from glorot_repro.training.fast.graphs import GraphedSGD
from glorot_repro.training.fast.lean import LeanSGD

INITS = ("standard", "normalized", "standard", "normalized")
LRS = (0.01, 0.02, 0.05, 0.1)
BATCH, DEPTH, WIDTH = 10, 3, 64
TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-4}


def minibatches(updates: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(K, BATCH, 1024) inputs and (K, BATCH) labels, each model its own examples."""
    streams = [ShapesetStream(seed, torch.device("cpu"), signed=False) for seed in range(len(LRS))]
    out = []
    for _ in range(updates):
        batches = [s.next_batch(BATCH) for s in streams]
        out.append((torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])))
    return out


def trained(device: torch.device, dtype, defer: int, graphs: bool, data):
    """Every weight and bias after the updates, and each update's costs, on the CPU in float64."""
    nets = []
    for k, init in enumerate(INITS):
        torch.manual_seed(k)
        nets.append(DeepMLP(1024, 9, DEPTH, WIDTH, "tanh", init).to(dtype=dtype, device=device))
    lean = LeanSGD(nets, list(LRS), "nll", defer=defer)
    sgd = GraphedSGD(lean, capture=device.type == "cuda", strict=True) if graphs else lean
    costs = []
    for x, y in data:
        value, _ = sgd.step(x.to(device=device, dtype=dtype), y.to(device))
        costs.append(value.clone())
    sgd.sync()
    if graphs and device.type == "cuda" and len(sgd.graphs) != lean.capacity // lean.batch:
        raise RuntimeError(f"expected one graph per phase, got {len(sgd.graphs)}")
    params = [t.detach().to("cpu", torch.float64) for t in lean.weights + lean.biases]
    return params, torch.stack(costs).to("cpu", torch.float64)


def max_diff(a, b) -> float:
    (wa, ca), (wb, cb) = a, b
    return max([float((p - q).abs().max()) for p, q in zip(wa, wb)] + [float((ca - cb).abs().max())])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--updates", type=int, default=60)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        print(f"device {torch.cuda.get_device_name(device)}; float32 matmuls may use TF32: "
              f"{torch.backends.cuda.matmul.allow_tf32}")
    data = minibatches(args.updates)
    cpu, name = torch.device("cpu"), device.type
    failed = False
    for dtype in (torch.float64, torch.float32):
        for defer in (1, 3):
            ref = trained(cpu, dtype, defer, False, data)
            eager = trained(device, dtype, defer, False, data)
            graphed = trained(device, dtype, defer, True, data)
            d_eager, d_graph, d_same = (max_diff(ref, eager), max_diff(ref, graphed),
                                        max_diff(eager, graphed))
            tol = TOLERANCE[dtype]
            ok = max(d_eager, d_graph, d_same) <= tol
            failed |= not ok
            print(f"{str(dtype).removeprefix('torch.'):8s} defer={defer}  {args.updates} updates, "
                  f"K={len(LRS)}: max|cpu-{name}| {d_eager:.1e}, max|cpu-{name}+graphs| "
                  f"{d_graph:.1e}, max|{name}-{name}+graphs| {d_same:.1e}"
                  f"{' (bitwise)' if d_same == 0 else ''}; tolerance {tol:.0e}: "
                  f"{'ok' if ok else 'FAIL'}")
    print("agreement: " + ("FAIL" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
