"""Training throughput, measured side by side in one process.

    python scripts/bench.py                 # 3 interleaved repeats of 5000 updates per mode
    python scripts/bench.py --quick         # 1 repeat of 500 updates: about a minute in all
    python scripts/bench.py --json          # {"plain": ..., "lean": ..., "probed": ..., "replicas": ...}
    python scripts/bench.py --device cuda
    python scripts/bench.py --defer 1       # our modes writing each update into the weights at once
    python scripts/bench.py --modes plain,watched   # what hooks.watch costs between its logging steps
    python scripts/bench.py --device cuda --cuda-graphs both --replicas 64 --modes plain,replicas
    python scripts/bench.py --modes plain,mixed,table1   # an init-mixed stack; Table 1's stack
    python scripts/bench.py --modes plain,lean,lean-torch   # the compiled kernel, torch's products
    python scripts/bench.py --modes plain,lean,lean-avx2    # the AVX-512 build against the AVX2 one
    python scripts/bench.py --threads-vs-processes --updates 300   # 1 process x 2 threads, 2 x 1
    python scripts/bench.py --watch-models resnet18,transformer   # hooks.watch at every 1, 10, 100
    python scripts/bench.py --modes plain,trainer,trainer-mnist --updates 10000 \
        --dataset-root /work/shared/datasets     # train() itself at scale=long's cadence

The work is the paper's: a 5x1000 tanh net on 1024 inputs (Shapeset's size), minibatch 10, SGD,
on pre-drawn minibatches shared by all modes:
  plain     nn.Sequential + torch.optim.SGD: the loop a typical reproduction writes
  watched   the plain loop under glorot_repro.measure.hooks.watch, between its logging steps (it logs
            at step 0, in the warm-up, and not again): the hooks' cost on any user's loop
  lean      our training step (glorot_repro.training.fast.lean.LeanSGD, the default), probes off
  probed    our step with the default probes of the config (log.every, log.histograms, Jacobians)
  replicas  our step training K models at once (K=8 by default); total model-updates/s
  mixed     the same stack of K, half of it standard init and half normalized (Table 1 trains
            both inits of an activation in one stack: train.replicas.inits)
  table1    a Table 1 Shapeset stack as the trainer runs it: 9 models (3 seeds x 3 learning
            rates), each on its own online Shapeset-3x2 stream drawn on the device (chunks of
            1000 images), minibatches stacked per update, the trainer's on-device window sums
  lean-torch, replicas-torch
            lean and replicas on torch's products alone (LeanSGD(kernel=False)), the path taken
            on a GPU or where the compiled kernel (glorot_repro/training/fast/kernels) does not load
  lean-avx2, replicas-avx2
            lean and replicas on the kernel's AVX2 build (LeanSGD(kernel="avx2")): beside lean
            and replicas, what the AVX-512 build gains on a CPU that has it
  trainer   glorot_repro.train.train() itself, one model, at scale=long's cadence (evaluations,
            probes, histograms, checkpoints, its online Shapeset stream), in a fresh run dir
            each repeat; its rate leaves out the setup before the first update (the fixed
            validation and test sets), and a breakdown says where its time went
  trainer-mnist
            the same on MNIST (--dataset-root: where MNIST/raw lives)
With --cuda-graphs on (the default on CUDA: `auto`), our modes replay each update as a CUDA graph
(glorot_repro/training/fast/graphs.py) and are named <mode>+graphs; `both` runs each with and without graphs.
On a CPU, `on` runs the graphs' static-buffer step uncaptured (what the CPU tests check).
--width and --depth shrink the net (tests); the defaults are the paper's.
Modes run interleaved, repeat after repeat, so drifts of the machine hit all alike. A window
starts at update 0; with the default 5000 updates it holds exactly one histogram probe and the
scalar probes of the default cadence (with --quick the one full probe at update 0 weighs 10x more).
Reports model-updates/s, median (min, max) over repeats, and each mode's ratio to `plain`; then
Shapeset-3x2 images/s generated on the same device.

--threads-vs-processes answers another question, on the CPU: with 2 cores, is one lean run on 2
threads or two runs of 1 thread each the better use? Each setting runs in fresh processes (the
two runs started together), `lean` alone, and counts total model-updates/s, over the repeats.

--watch-models answers what glorot_repro.measure.hooks.watch costs on the models people train:
torchvision's resnet18 (minibatch 32x3x32x32, 10 classes) and a small Transformer (2 post-norm
encoder layers, d_model 64, 4 heads, feed-forward 256 with F.gelu, watched at its linear1
outputs by qualified name; minibatch 32 sequences of 16 tokens), each trained by SGD plainly and
watched at every=1, 10 and 100 (--watch-every; copies of one init), in interleaved windows of --watch-steps
steps, --repeats windows per mode. Per mode: ms/step, median (min, max) over windows; its ratio
to plain, the median of the windows' ratios (each window against the plain window beside it)
and the ratio of all its steps' time to plain's (what every=100 costs on average: one window in
100 / --watch-steps holds its logging step). Then where a logging step's time goes, each part
timed alone on one minibatch."""
from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from collections import defaultdict

import torch
from torch.utils.tensorboard import SummaryWriter

from glorot_repro.command.compose import compose_config
from glorot_repro.data.shapeset import Shapeset3x2
from glorot_repro.data.streams import ShapesetStream, TensorStream
from glorot_repro.measure.hooks import watch
from glorot_repro.measure.probes import layer_internals, run_probes
from glorot_repro.measure.recorder import Recorder
from glorot_repro.measure.windows import TrainingWindows
from glorot_repro.nets.model import DeepMLP
from glorot_repro.train import train
from glorot_repro.training.fast import kernels
from glorot_repro.training.fast.graphs import GraphedSGD
from glorot_repro.training.fast.lean import LeanSGD
from glorot_repro.training.run import Run
from glorot_repro.training.step import resolve_defer

INPUTS, CLASSES, DEPTH, WIDTH, BATCH, LR = 1024, 9, 5, 1000, 10, 0.01
TABLE1_SEEDS, TABLE1_LRS = (0, 1, 2), (0.01, 0.03, 0.1)  # conf/experiment/table1.yaml
OURS = ("lean", "probed", "replicas", "mixed", "table1")  # the modes that can use CUDA graphs
TRAINER_DATASETS = {"trainer": "shapeset", "trainer-mnist": "mnist"}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_net(width: int, depth: int) -> torch.nn.Sequential:
    """The net a typical reproduction writes: Linear and Tanh layers in an nn.Sequential."""
    layers = []
    for fan_in in [INPUTS] + [width] * (depth - 1):
        layers += [torch.nn.Linear(fan_in, width), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, CLASSES))


def plain_loop(batches, device, width: int, depth: int, watched: bool = False):
    net = plain_net(width, depth).to(device)
    if watched:  # its next logging step lies beyond any window
        watch(net, SummaryWriter(tempfile.mkdtemp(prefix="bench_watch_")), every=10 ** 9)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run(updates: int) -> None:
        for u in range(updates):
            x, y = batches[u % len(batches)]
            opt.zero_grad()
            loss_fn(net(x[0]), y[0]).backward()
            opt.step()
    return run


def our_step(nets, lrs, device, defer: int, graphs: bool, kernel: bool | str = True):
    sgd = LeanSGD(nets, lrs, "nll", defer=defer, kernel=kernel)
    return GraphedSGD(sgd, capture=device.type == "cuda") if graphs else sgd


def lean_loop(batches, device, models: int, defer: int, width: int, depth: int,
              graphs: bool = False, probe_cfg=None, inits=None, kernel: bool | str = True):
    """Our step on `models` models (inits: one per model, normalized by default); with probe_cfg,
    model 0 is probed as the trainer does (after writing the pending updates into its weights).
    kernel=False: on torch's products alone; an instruction set's name: that build of the kernel."""
    inits = inits or ["normalized"] * models
    nets = [DeepMLP(INPUTS, CLASSES, depth, width, "tanh", init).to(device) for init in inits]
    sgd = our_step(nets, [LR] * models, device, defer, graphs, kernel)
    probe_x = torch.rand(300, INPUTS, device=device)
    probe_y = torch.randint(0, CLASSES, (300,), device=device)

    def run(updates: int) -> None:
        for u in range(updates):
            if probe_cfg is not None and u % probe_cfg.log.every == 0:
                sgd.sync()
                internals = layer_internals(nets[0], probe_x, probe_y, probe_cfg.train.loss)
                run_probes(nets[0], internals, u, probe_cfg.log, probe_cfg.activation.name,
                           probe_cfg.init.name, probe_cfg.train.batch_size)
            x, y = batches[u % len(batches)]
            sgd.step(x[:models], y[:models])
    return run


# What the trainer's breakdown times, as (class, method, part): each wrapped for the bench's process.
TRAINER_PARTS = [(LeanSGD, "step", "step"), (LeanSGD, "sync", "step"),
                 (ShapesetStream, "next_batch", "data"), (TensorStream, "next_batch", "data"),
                 (Recorder, "evaluate", "evaluation"), (Recorder, "probe", "probes"),
                 (Run, "checkpoint", "checkpoint")]
PART_ORDER = ("step", "data", "evaluation", "probes", "histograms", "checkpoint", "rest")


class PartClock:
    """Wall time spent in each of the trainer's parts (TRAINER_PARTS) while it is on, and how
    often each ran. A probe at a histogram update (histograms and Jacobians too) is its own part,
    "histograms". "setup" is the time before the first update, less the parts in it."""

    def __init__(self):
        self.seconds, self.calls = defaultdict(float), defaultdict(int)
        self.on = self.inside = False
        self.first_step = None  # perf_counter at the first step's start
        for cls, method, part in TRAINER_PARTS:
            setattr(cls, method, self._timed(getattr(cls, method), part))

    def _timed(self, fn, part):
        def timed(obj, *args, **kwargs):
            if not self.on or self.inside:  # a part within a part (the step's sync): the outer's
                return fn(obj, *args, **kwargs)
            name = part
            if part == "probes" and obj.log.histograms and args[0] % obj.log.histograms == 0:
                name = "histograms"
            start = time.perf_counter()
            if part == "step" and self.first_step is None:
                self.first_step = start
                self.seconds["setup"] = start - self.began - sum(self.seconds.values())
            self.inside = True
            try:
                out = fn(obj, *args, **kwargs)
            finally:
                self.inside = False
            self.seconds[name] += time.perf_counter() - start
            self.calls[name] += fn.__name__ != "sync"
            return out
        return timed

    def start(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.first_step, self.on, self.began = None, True, time.perf_counter()

    def stop(self) -> dict[str, float]:
        """Seconds per part of the run since start(), setup and rest included."""
        total, self.on = time.perf_counter() - self.began, False
        parts = dict(self.seconds)
        parts["rest"] = total - sum(parts.values())
        return parts


def trainer_loop(dataset: str, width: int, depth: int, root: str | None, clock: PartClock,
                 breakdowns: list):
    """glorot_repro.train.train() on one model at scale=long's cadence, for `updates` updates in
    a fresh run dir; returns its seconds less the setup, and adds its parts to `breakdowns`."""
    overrides = ["scale=long", "activation=tanh", "init=normalized", f"train.lr={LR}",
                 f"dataset={dataset}", f"model.width={width}", f"model.depth={depth}",
                 "log.progress=false"] + ([f"dataset.root={root}"] if root else [])

    def run(updates: int) -> float:
        cfg = compose_config(overrides + [f"train.updates={updates}"])
        with tempfile.TemporaryDirectory(prefix="bench_trainer_") as run_dir:
            clock.start()
            status = train(cfg, run_dir)["status"]
            parts = clock.stop()
        if status != "completed":  # stopped (SIGTERM) or diverged: not a window of `updates`
            raise SystemExit(f"bench: the trainer's run ended {status}; no rate to report")
        breakdowns.append((updates, parts, dict(clock.calls)))
        return sum(parts.values()) - parts["setup"]
    return run, compose_config(overrides)


def table1_loop(device, defer: int, width: int, depth: int, graphs: bool = False):
    """Table 1's Shapeset stack as train.py drives it: a stream per model, one minibatch each per
    update, stacked on the device, and the loss and error sums kept there."""
    nets, lrs, streams = [], [], []
    for seed in TABLE1_SEEDS:
        for lr in TABLE1_LRS:
            torch.manual_seed(seed)
            nets.append(DeepMLP(INPUTS, CLASSES, depth, width, "tanh", "normalized").to(device))
            lrs.append(lr)
            streams.append(ShapesetStream(seed, device, signed=False))
    sgd = our_step(nets, lrs, device, defer, graphs)
    windows = TrainingWindows(len(nets), device)  # the trainer's own accumulators

    def run(updates: int) -> None:
        for _ in range(updates):
            batches = [s.next_batch(BATCH) for s in streams]
            x = torch.stack([b[0] for b in batches])
            y = torch.stack([b[1] for b in batches])
            windows.add(*sgd.step(x, y), y)
    return run


def update_flops(width: int, depth: int, inputs: int = INPUTS, classes: int = CLASSES,
                 batch: int = BATCH) -> int:
    """Floating-point operations of one model's SGD update, a multiply-add counting 2: with P
    weights in all, the forward products b + z W^T (2 B P), BP2's delta W into every layer but
    the first, whose inputs need no gradient (2 B (P - P_1)), and the weight gradients delta^T z
    (2 B P). The elementwise work (activations, biases, the SGD write) is left out."""
    first = inputs * width
    weights = first + (depth - 1) * width * width + width * classes
    return 2 * batch * (3 * weights - first)


def large_product_gflops(device: torch.device, n: int = 1000, repeats: int = 5) -> float:
    """GFLOP/s of an n x n by n x n product on the device at torch's threads: about as fast as its
    BLAS does arithmetic, so a bound on any step built of products (the step's 10-row ones run
    far slower: the weights stream in for 10 rows each)."""
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    times = []
    for _ in range(repeats + 1):  # the first one warms up
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times[1:]) / 1e9


def kernel_product_gflops(rows: int = 256, repeats: int = 5) -> float | None:
    """GFLOP/s of the compiled kernel's 10-row product (nt, minibatch 10 against `rows` x 1000
    weights that stay in the L2 cache): its arithmetic rate when memory does not hold it back.
    On a CPU whose BLAS does not use all of it (MKL on AMD's AVX-512), faster than the large
    product. None where the kernel does not load."""
    module = kernels.load()
    if module is None:
        return None
    a, w, c = torch.rand(1, BATCH, 1000), torch.rand(1, rows, 1000), torch.empty(1, BATCH, rows)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(20):
            module.nt(c, a, w, False, False)
        times.append((time.perf_counter() - start) / 20)
    return 2 * BATCH * rows * 1000 / statistics.median(times[1:]) / 1e9


def nets_for_check(device: torch.device) -> list[DeepMLP]:
    return [DeepMLP(INPUTS, CLASSES, 1, 8, "tanh", "normalized").to(device)]


def shapeset_images_per_second(device: torch.device, n: int = 10_000) -> float:
    gen = Shapeset3x2(seed=0, device=device)
    gen.sample(1000)
    sync(device)
    start = time.perf_counter()
    gen.sample(n)
    sync(device)
    return n / (time.perf_counter() - start)


def one_run(threads: int, updates: int, defer: int, seed: int, start, rates) -> None:
    """A lean run in its own process on `threads` threads: warm up, wait for `start`, time."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    cpu = torch.device("cpu")
    batches = [(torch.rand(1, BATCH, INPUTS), torch.randint(0, CLASSES, (1, BATCH)))
               for _ in range(50)]
    run = lean_loop(batches, cpu, 1, defer, WIDTH, DEPTH)
    run(20)
    start.wait()
    begin = time.perf_counter()
    run(updates)
    rates.put(updates / (time.perf_counter() - begin))


def threads_vs_processes(updates: int, repeats: int, defer: int) -> dict[str, list[float]]:
    """Total model-updates/s of one process on 2 threads and of 2 processes on 1 thread each."""
    ctx = multiprocessing.get_context("spawn")  # no OpenMP state inherited through a fork
    totals: dict[str, list[float]] = {"1 process x 2 threads": [], "2 processes x 1 thread": []}
    for _ in range(repeats):
        for name, (processes, threads) in zip(totals, [(1, 2), (2, 1)]):
            start, rates = ctx.Barrier(processes + 1), ctx.Queue()
            workers = [ctx.Process(target=one_run, args=(threads, updates, defer, i, start, rates))
                       for i in range(processes)]
            for w in workers:
                w.start()
            start.wait()
            # Each worker's own rate; their sum is the total while they ran side by side.
            totals[name].append(sum(rates.get() for _ in workers))
            for w in workers:
                w.join()
    return totals


class SmallTransformer(torch.nn.Module):
    """A small Transformer classifier: its feed-forward GELU is F.gelu, a function."""

    def __init__(self, width: int = 64, depth: int = 2, classes: int = 10):
        super().__init__()
        layer = torch.nn.TransformerEncoderLayer(width, 4, 4 * width, activation="gelu",
                                                 batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = torch.nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


def watch_subjects(names: list[str]) -> dict:
    """name -> (a model, its minibatches, what watch is told in modules=)."""
    import torchvision
    gen = torch.Generator().manual_seed(0)
    shapes = {"resnet18": (3, 32, 32), "transformer": (16, 64)}
    builders = {"resnet18": lambda: (torchvision.models.resnet18(num_classes=10), None),
                "transformer": lambda: (SmallTransformer(), [f"encoder.layers.{i}.linear1"
                                                             for i in range(2)])}
    out = {}
    for name in names:
        torch.manual_seed(0)
        model, modules = builders[name]()
        batches = [(torch.randn(32, *shapes[name], generator=gen),
                    torch.randint(0, 10, (32,), generator=gen)) for _ in range(10)]
        out[name] = model, batches, modules
    return out


def watch_models(names: list[str], steps: int, repeats: int,
                 cadences: list[int]) -> dict[str, dict[str, dict]]:
    """For each model: plain and watched at each of `cadences` (every=...), interleaved; then a
    logging step's parts. Returns model -> mode -> its numbers (ms/step, ratios) and model -> "parts" -> ms."""
    import copy

    from glorot_repro.measure.hooks import _capture, _Hooks
    from glorot_repro.measure.probes import layer_scalars, probe_histograms
    from glorot_repro.measure.tblog import log_histograms, log_scalars
    results = {}
    for name, (model, batches, modules) in watch_subjects(names).items():
        loops, logdirs = {}, []
        for mode in ["plain"] + [f"every={k}" for k in cadences]:
            net = copy.deepcopy(model)
            if mode != "plain":
                logdirs.append(tempfile.mkdtemp(prefix="bench_watch_"))
                watch(net, SummaryWriter(logdirs[-1]), every=int(mode.split("=")[1]),
                      modules=modules)
            opt = torch.optim.SGD(net.parameters(), lr=0.01)

            def run(n, net=net, opt=opt, state={"u": 0}):
                for _ in range(n):
                    x, y = batches[state["u"] % len(batches)]
                    state["u"] += 1
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(net(x), y).backward()
                    opt.step()
            loops[mode] = run
        for run in loops.values():  # warm-up: step 0, each watched mode's first logging step
            run(1)
        times: dict[str, list[float]] = {mode: [] for mode in loops}
        for _ in range(repeats):
            for mode, run in loops.items():
                start = time.perf_counter()
                run(steps)
                times[mode].append(time.perf_counter() - start)
        modes = {}
        for mode, t in times.items():
            ms = [1000 * w / steps for w in t]
            modes[mode] = {"ms_per_step": statistics.median(ms), "min": min(ms), "max": max(ms),
                           "ratio_median": statistics.median(
                               a / b for a, b in zip(t, times["plain"])),
                           "ratio_total": sum(t) / sum(times["plain"])}
        # A logging step's parts, each alone: the recorded forward and backward (hooks, copies,
        # the feeders' walk), the statistics, the TensorBoard writes.
        hooks = _Hooks(copy.deepcopy(model), modules)
        x, y = batches[0]
        parts = {}
        start = time.perf_counter()
        internals, ranges = _capture(hooks, x, y, torch.nn.functional.cross_entropy)
        parts["recorded forward+backward"] = time.perf_counter() - start
        ranges = [r or (-1.0, 1.0) for r in ranges]
        start = time.perf_counter()
        scalars = layer_scalars(internals)
        parts["scalars (moments, percentiles)"] = time.perf_counter() - start
        start = time.perf_counter()
        histograms = probe_histograms(ranges, internals, 0.1, 0.01, 101)
        parts["histograms"] = time.perf_counter() - start
        weights_only = copy.copy(internals)
        weights_only.pre, weights_only.act, weights_only.grad = [], [], []
        start = time.perf_counter()
        layer_scalars(weights_only)
        probe_histograms([], weights_only, 0.1, 0.01, 101)
        parts["  of the two: weight gradients"] = time.perf_counter() - start
        writer = SummaryWriter(tempfile.mkdtemp(prefix="bench_watch_"))
        start = time.perf_counter()
        log_scalars(writer, scalars, 0)
        log_histograms(writer, histograms, 0)
        writer.flush()
        parts["TensorBoard writes"] = time.perf_counter() - start
        writer.close()
        modes["parts"] = {k: 1000 * v for k, v in parts.items()}
        modes["parts"]["elements"] = {
            "activations": sum(s.numel() for s in internals.pre),
            "weight gradients": sum(g.numel() for g in internals.wgrad if g is not None)
            + sum(g.numel() for g in internals.wgrad_by_module.values())}
        results[name] = modes
    return results


def print_watch_models(results: dict, steps: int, repeats: int) -> None:
    print(f"hooks.watch on the CPU, torch threads {torch.get_num_threads()}, windows of {steps} "
          f"steps x {repeats} repeats per mode, interleaved; torch {torch.__version__}")
    for name, modes in results.items():
        print(f"{name}:")
        for mode, r in modes.items():
            if mode != "parts":
                print(f"  {mode:10s} {r['ms_per_step']:8.1f} ms/step  (min {r['min']:.1f}, "
                      f"max {r['max']:.1f})  x{r['ratio_median']:.2f} plain (median of "
                      f"windows), x{r['ratio_total']:.2f} (all steps)")
        parts = modes["parts"]
        elements = parts.pop("elements")
        print(f"  a logging step's parts, each alone on one minibatch "
              f"({elements['activations']:,} activations, "
              f"{elements['weight gradients']:,} weight-gradient entries):")
        for part, ms in parts.items():
            print(f"    {part:34s} {ms:8.1f} ms")
def print_breakdown(name: str, breakdowns: list, cfg, plain: float) -> None:
    """Where the trainer's time went, median over the repeats: each part's share of the window
    (setup left out), its cost per update or per event, and the rate this projects for a whole
    run at the config's cadence (train.updates of scale=long: what its windows leave out is the
    start's one full probe and evaluation weighing more than in a long run)."""
    updates = breakdowns[0][0]
    med = {part: statistics.median(p.get(part, 0.0) for _, p, _ in breakdowns)
           for part in ("setup", *PART_ORDER)}
    calls = {part: max(c.get(part, 0) for _, _, c in breakdowns) for part in PART_ORDER}
    window = sum(med[part] for part in PART_ORDER)
    shares = ", ".join(f"{part} {100 * med[part] / window:.1f}%" for part in PART_ORDER)
    print(f"  {name}: setup {med['setup']:.2f} s (left out), then {updates} updates in "
          f"{window:.2f} s: {shares}")
    each = {part: med[part] / calls[part] if calls[part] else 0.0 for part in PART_ORDER}
    per_update = (med["step"] + med["data"] + med["rest"]) / updates
    every = {"evaluation": cfg.train.eval_every, "checkpoint": cfg.train.checkpoint_every,
             "histograms": cfg.log.histograms or 0, "probes": cfg.log.every or 0}
    print(f"    per update: step {1e3 * med['step'] / updates:.2f} ms, data "
          f"{1e3 * med['data'] / updates:.3f} ms, rest {1e3 * med['rest'] / updates:.3f} ms; "
          + ", ".join(f"{part} {1e3 * each[part]:.0f} ms each (every {every[part]})"
                      for part in every if calls[part]))
    # A whole run at the cadence: a histogram update probes once, as a histogram probe.
    probe_rate = (1 / every["probes"] - (1 / every["histograms"] if every["histograms"] else 0)
                  if every["probes"] else 0.0)
    events = {"evaluation": each["evaluation"] / every["evaluation"],
              "probes": each["probes"] * probe_rate,
              "histograms": each["histograms"] / every["histograms"] if every["histograms"] else 0,
              "checkpoint": each["checkpoint"] / every["checkpoint"]}
    seconds = per_update + sum(events.values())
    looked = 100 * (events["evaluation"] + events["probes"] + events["histograms"]) / seconds
    print(f"    projected over train.updates={cfg.train.updates}: {1 / seconds:.1f} updates/s "
          f"(x{1 / seconds / plain:.2f} plain), evaluations and probes {looked:.1f}% of it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=5000, help="updates per timed window")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per mode")
    parser.add_argument("--replicas", type=int, default=8, help="K for the replicas mode")
    parser.add_argument("--quick", action="store_true", help="1 repeat of 500 updates")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--defer", type=int, default=None,
                        help="train.defer for our modes (default: the trainer's for the device)")
    parser.add_argument("--json", action="store_true", help="print only a JSON dict of updates/s")
    parser.add_argument("--threads-vs-processes", action="store_true",
                        help="on the CPU: one lean run on 2 threads against two runs of 1 thread")
    parser.add_argument("--watch-models", default=None,
                        help="comma-separated, of resnet18, transformer: hooks.watch's cost on them")
    parser.add_argument("--watch-steps", type=int, default=10,
                        help="steps per timed window of --watch-models")
    parser.add_argument("--watch-every", default="1,10,100",
                        help="comma-separated cadences of --watch-models, beside plain")
    parser.add_argument("--modes",
                        default="plain,watched,lean,lean-torch,probed,replicas,replicas-torch",
                        help="comma-separated modes to run (plain always runs: the reference); "
                             "also mixed, table1")
    parser.add_argument("--cuda-graphs", default="auto", choices=("auto", "on", "off", "both"),
                        help="our modes as CUDA graph replays (auto: on with --device cuda); "
                             "both: each mode with and without")
    parser.add_argument("--width", type=int, default=WIDTH, help="units per hidden layer")
    parser.add_argument("--depth", type=int, default=DEPTH, help="hidden layers")
    parser.add_argument("--shapeset-images", type=int, default=10_000,
                        help="images for the closing Shapeset-3x2 rate (0: skip it)")
    parser.add_argument("--json-out", default=None,
                        help="also write the JSON dict of updates/s to this file")
    parser.add_argument("--dataset-root", default=None,
                        help="dataset.root for trainer-mnist (default: the config's)")
    args = parser.parse_args()
    if args.quick:
        args.updates, args.repeats = 500, 1
    if args.watch_models:
        names = args.watch_models.split(",")
        if set(names) - {"resnet18", "transformer"}:
            parser.error(f"unknown --watch-models {names}; valid: resnet18, transformer")
        results = watch_models(names, args.watch_steps, args.repeats,
                               [int(k) for k in args.watch_every.split(",")])
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump(results, f)
        print_watch_models(results, args.watch_steps, args.repeats)
        return
    device = torch.device(args.device)
    defer = resolve_defer(args.defer, device)
    if args.threads_vs_processes:
        cpu_defer = resolve_defer(args.defer, torch.device("cpu"))
        totals = threads_vs_processes(args.updates, args.repeats, cpu_defer)
        medians = {name: statistics.median(r) for name, r in totals.items()}
        if args.json:
            print(json.dumps(medians))
            return
        print(f"lean on the CPU, {DEPTH}x{WIDTH} tanh, {args.updates} updates x {args.repeats} "
              f"repeats, train.defer {cpu_defer}; total model-updates/s")
        for name, r in totals.items():
            print(f"  {name:24s} {medians[name]:8.1f}  (min {min(r):.1f}, max {max(r):.1f})")
        return
    graph_mode = ("on" if device.type == "cuda" else "off") if args.cuda_graphs == "auto" \
        else args.cuda_graphs
    variants = {"on": [True], "off": [False], "both": [False, True]}[graph_mode]
    width, depth, k = args.width, args.depth, args.replicas
    cfg = compose_config(["activation=tanh", "init=normalized"])  # the default probe cadence
    torch.manual_seed(0)
    # Minibatches of shape (replicas, batch, inputs): the plain and lean modes use the first.
    batches = [(torch.rand(args.replicas, BATCH, INPUTS, device=device),
                torch.randint(0, CLASSES, (args.replicas, BATCH), device=device))
               for _ in range(50)]
    mixed_inits = ["standard"] * (k // 2) + ["normalized"] * (k - k // 2)
    builders = {
        "plain": lambda g: plain_loop(batches, device, width, depth),
        "watched": lambda g: plain_loop(batches, device, width, depth, watched=True),
        "lean": lambda g: lean_loop(batches, device, 1, defer, width, depth, g),
        "probed": lambda g: lean_loop(batches, device, 1, defer, width, depth, g, probe_cfg=cfg),
        "replicas": lambda g: lean_loop(batches, device, k, defer, width, depth, g),
        "mixed": lambda g: lean_loop(batches, device, k, defer, width, depth, g,
                                     inits=mixed_inits),
        "table1": lambda g: table1_loop(device, defer, width, depth, g),
        "lean-torch": lambda g: lean_loop(batches, device, 1, defer, width, depth, kernel=False),
        "replicas-torch": lambda g: lean_loop(batches, device, k, defer, width, depth,
                                              kernel=False),
        "lean-avx2": lambda g: lean_loop(batches, device, 1, defer, width, depth, kernel="avx2"),
        "replicas-avx2": lambda g: lean_loop(batches, device, k, defer, width, depth,
                                             kernel="avx2")}
    n_models = {"replicas": k, "replicas-torch": k, "replicas-avx2": k, "mixed": k,
                "table1": len(TABLE1_SEEDS) * len(TABLE1_LRS)}
    labels = {"replicas": f"replicas (K={k})", "replicas-torch": f"replicas-torch (K={k})",
              "replicas-avx2": f"replicas-avx2 (K={k})",
              "mixed": f"mixed (K={k}: {k // 2} std + {k - k // 2} norm)",
              "table1": f"table1 (K={n_models['table1']}, Shapeset)"}
    wanted = {"plain", *args.modes.split(",")}
    breakdowns: dict[str, list] = {name: [] for name in TRAINER_DATASETS if name in wanted}
    if breakdowns:
        clock, trainer_cfg = PartClock(), None
        for name in breakdowns:
            builders[name] = (lambda g, name=name: trainer_loop(
                TRAINER_DATASETS[name], width, depth, args.dataset_root, clock, breakdowns[name]))
    if wanted - builders.keys():
        parser.error(f"unknown modes {sorted(wanted - builders.keys())}; valid: {', '.join(builders)}")
    loops, models = {}, {}
    for name, build in builders.items():
        if name in wanted:
            for graphed in (variants if name in OURS else [False]):
                key = name + ("+graphs" if graphed else "")
                loops[key] = build(graphed)
                if name in TRAINER_DATASETS:
                    loops[key], trainer_cfg = loops[key]
                models[key] = n_models.get(name, 1)
    for run in loops.values():  # warm-up: allocator, kernels, one probe
        run(20)
    for parts in breakdowns.values():
        parts.clear()
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(args.repeats):
        for name, run in loops.items():
            sync(device)
            start = time.perf_counter()
            counted = run(args.updates)  # the trainer's: its seconds less its setup
            sync(device)
            seconds = counted if counted is not None else time.perf_counter() - start
            rates[name].append(models[name] * args.updates / seconds)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(medians, f)
    if args.json:
        print(json.dumps(medians))
        return
    name_of_device = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    uncaptured = device.type != "cuda" and graph_mode != "off"
    print(f"device {name_of_device}, {depth}x{width} tanh, {INPUTS} inputs, minibatch {BATCH}, "
          f"{args.updates} updates x {args.repeats} repeats, torch threads {torch.get_num_threads()}, "
          f"train.defer {defer}, CUDA graphs {graph_mode}, compiled kernel "
          f"{f'loaded ({kernels.default_isa()})' if LeanSGD(nets_for_check(device), [LR], 'nll').kernel else 'unavailable'}"
          f"{' (on a CPU: the static-buffer step, uncaptured)' if uncaptured else ''}")
    print(f"probes: every {cfg.log.every} updates on {cfg.log.probe_size} examples, histograms "
          f"and Jacobians every {cfg.log.histograms}")
    for name, r in rates.items():
        base, graphed = name.split("+")[0], name.endswith("+graphs")
        label = labels.get(base, base) + ("+graphs" if graphed else "")
        print(f"  {label:34s} {medians[name]:9.1f} model-updates/s  (min {min(r):.1f}, "
              f"max {max(r):.1f})  x{medians[name] / medians['plain']:.2f} plain")
    gains = [f"{name} x{medians[name + '+graphs'] / medians[name]:.2f}" for name in OURS
             if name in medians and name + "+graphs" in medians]
    if gains:
        print(f"  CUDA graphs against the same mode without: {', '.join(gains)}")
    for ours in ("lean", "replicas"):
        if {ours, f"{ours}-torch"} <= medians.keys():
            print(f"  the compiled kernel makes {ours} "
                  f"x{medians[ours] / medians[f'{ours}-torch']:.2f} as fast as on torch's products")
        if {ours, f"{ours}-avx2"} <= medians.keys() and kernels.default_isa() != "avx2":
            print(f"  the kernel's {kernels.default_isa()} build makes {ours} "
                  f"x{medians[ours] / medians[f'{ours}-avx2']:.2f} as fast as its avx2 build")
    for name, parts in breakdowns.items():
        print_breakdown(name, parts, trainer_cfg, medians["plain"])
    if "watched" in medians:
        print(f"  watch between its logging steps costs "
              f"{100 * (1 - medians['watched'] / medians['plain']):.1f}% of plain")
    for graphed in ("", "+graphs"):
        probed, lean = "probed" + graphed, "lean" + graphed
        if {probed, lean} <= medians.keys():
            print(f"  probing costs {100 * (1 - medians[probed] / medians[lean]):.1f}% of {lean}")
    # The arithmetic ceiling: what the whole update would run at if every product went
    # at the faster of the large product's rate and the kernel's in-cache rate, and how much of
    # that each mode uses.
    flops = update_flops(width, depth)
    gflops = large_product_gflops(device, 1000 if device.type == "cpu" else 8192)
    in_cache = kernel_product_gflops() if device.type == "cpu" else None
    best = max(gflops, in_cache or 0)
    ceiling = best * 1e9 / flops
    used = ", ".join(f"{labels.get(name, name)} {100 * medians[name] / ceiling:.0f}%"
                     for name in medians)
    kernel_rate = (f", the kernel's 10-row product with its weights in cache at {in_cache:.1f}"
                   if in_cache else "")
    print(f"  ceiling: {flops / 1e6:.0f} MFLOP per model-update; a large product runs at "
          f"{gflops:.1f} GFLOP/s here{kernel_rate}, so at most {ceiling:.0f} model-updates/s. "
          f"Used: {used}; 3x plain would need {300 * medians['plain'] / ceiling:.0f}%")
    if args.shapeset_images:
        rate = shapeset_images_per_second(device, args.shapeset_images)
        print(f"  Shapeset-3x2: {rate:,.0f} images/s on {name_of_device}: at most "
              f"{rate / BATCH:,.0f} model-updates/s for a stack fed online Shapeset")


if __name__ == "__main__":
    main()
