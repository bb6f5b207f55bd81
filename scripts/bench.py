"""Training throughput, measured side by side in one process.

    python scripts/bench.py                 # 3 interleaved repeats of 5000 updates per mode
    python scripts/bench.py --updates 1000 --repeats 1
    python scripts/bench.py --json          # {"plain": ..., "lean": ..., "probed": ...} only

The work is the paper's: a 5x1000 tanh net on 1024 inputs (Shapeset size), minibatch 10, SGD.
Modes, each on the same pre-drawn minibatches:
  plain   nn.Sequential + torch.optim.SGD: the loop a typical reproduction writes
  lean    our training step (glorot_repro.lean.LeanSGD, the default), probes off
  probed  our step with the default probes (log.every, log.histograms, Jacobians) of the config
A window of --updates updates starts at update 0, so with the default 5000 it holds exactly one
histogram probe and the scalar probes of the default cadence. Reports model-updates/s as the
median (min, max) over repeats and each mode's ratio to `plain`; also Shapeset images/s."""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from glorot_repro.compose import compose_config
from glorot_repro.data.shapeset import Shapeset3x2
from glorot_repro.lean import LeanSGD
from glorot_repro.model import DeepMLP
from glorot_repro.probes import run_probes

INPUTS, CLASSES, DEPTH, WIDTH, BATCH, LR = 1024, 9, 5, 1000, 10, 0.01


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(batches, device, cfg):
    layers = []
    for fan_in in [INPUTS] + [WIDTH] * (DEPTH - 1):
        layers += [torch.nn.Linear(fan_in, WIDTH), torch.nn.Tanh()]
    net = torch.nn.Sequential(*layers, torch.nn.Linear(WIDTH, CLASSES)).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run(updates: int) -> None:
        for u in range(updates):
            x, y = batches[u % len(batches)]
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()
    return run


def our_loop(batches, device, cfg, probed: bool):
    model = DeepMLP(INPUTS, CLASSES, DEPTH, WIDTH, "tanh", "normalized").to(device)
    step = LeanSGD([model], [LR], "nll").step
    probe_x = torch.rand(cfg.log.probe_size, INPUTS, device=device)
    probe_y = torch.randint(0, CLASSES, (cfg.log.probe_size,), device=device)

    def run(updates: int) -> None:
        for u in range(updates):
            if probed and u % cfg.log.every == 0:
                run_probes(model, probe_x, probe_y, u, cfg)
            x, y = batches[u % len(batches)]
            step(x.unsqueeze(0), y.unsqueeze(0))
    return run


def shapeset_images_per_second(device, n=10_000) -> float:
    gen = Shapeset3x2(seed=0, device=device)
    gen.sample(1000)
    sync(device)
    start = time.perf_counter()
    gen.sample(n)
    sync(device)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=5000, help="updates per timed window")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per mode")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print only a JSON dict of updates/s")
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg = compose_config(["activation=tanh", "init=normalized"])  # the default probe cadence
    torch.manual_seed(0)
    batches = [(torch.rand(BATCH, INPUTS, device=device), torch.randint(0, CLASSES, (BATCH,), device=device))
               for _ in range(100)]
    loops = {"plain": plain_loop(batches, device, cfg),
             "lean": our_loop(batches, device, cfg, probed=False),
             "probed": our_loop(batches, device, cfg, probed=True)}
    for run in loops.values():  # warm-up: allocator, kernels, one probe
        run(20)
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(args.repeats):
        for name, run in loops.items():
            sync(device)
            start = time.perf_counter()
            run(args.updates)
            sync(device)
            rates[name].append(args.updates / (time.perf_counter() - start))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    if args.json:
        print(json.dumps(medians))
        return
    print(f"device {device}, {DEPTH}x{WIDTH} tanh, {INPUTS} inputs, minibatch {BATCH}, "
          f"{args.updates} updates x {args.repeats} repeats, torch threads {torch.get_num_threads()}")
    print(f"probes: every {cfg.log.every} updates on {cfg.log.probe_size} examples, histograms "
          f"and Jacobians every {cfg.log.histograms}")
    for name, r in rates.items():
        print(f"  {name:7s} {medians[name]:8.1f} updates/s  (min {min(r):.1f}, max {max(r):.1f})  "
              f"x{medians[name] / medians['plain']:.2f} plain")
    print(f"  probing costs {100 * (1 - medians['probed'] / medians['lean']):.1f}% of lean")
    print(f"  Shapeset-3x2: {shapeset_images_per_second(device):,.0f} images/s on {device}")


if __name__ == "__main__":
    main()
