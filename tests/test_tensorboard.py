"""The dashboards as a real TensorBoard serves them: a server on 127.0.0.1 over a smoke run
(train.step=autograd, probed through hooks) and a watched user CNN, read through its HTTP API."""
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import torch
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter

from glorot_repro.measure.hooks import watch

from test_hooks import SmallCNN

SMOKE, USER = "tanh_normalized_seed0", "user_cnn"
RANGES = {SMOKE: {"act": 1.0, "grad": 0.1, "wgrad": 0.01},  # tanh; log.grad_range, wgrad_range
          USER: {"act": 4.0, "grad": 0.1, "wgrad": 0.01}}  # ReLU and Softplus span [0, 4]
PER_LAYER_CHARTS = ["Fig. 2: activation mean +- std",
                    "Figs. 3, 10: 98th percentile of |activation|",
                    "Fig. 7 / eq. 13: back-propagated gradient std dC/ds (theory/: prediction)",
                    "Eq. 14: weight-gradient std (theory/: prediction)"]

pytestmark = pytest.mark.e2e  # a smoke run, served by a real TensorBoard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, **params):
    query = "?" + urllib.parse.urlencode(params) if params else ""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}{query}", timeout=10) as r:
        return json.loads(r.read())


def wait_for(port, proc, ready, seconds=120):
    """Poll until `ready(port)` holds: the server answers and has loaded what the test needs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        try:
            if ready(port):
                return
        except OSError:  # not listening yet
            pass
        time.sleep(0.5)
    pytest.fail(f"TensorBoard did not serve the runs within {seconds} s")


@pytest.fixture
def logdir(run_smoke, tmp_path):
    root = tmp_path / "runs"
    run_smoke("train.step=autograd", run_dir=root / SMOKE)
    torch.manual_seed(0)
    model = SmallCNN()
    writer = SummaryWriter(str(root / USER))
    handle = watch(model, writer, every=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(model(torch.randn(8, 1, 8, 8)), torch.randint(0, 5, (8,))).backward()
        opt.step()
    handle.remove()
    writer.close()
    return root


def test_tensorboard_serves_per_statistic_charts_and_fixed_range_histograms(logdir):
    port = free_port()
    proc = subprocess.Popen([shutil.which("tensorboard"), "--logdir", str(logdir), "--port",
                             str(port), "--host", "127.0.0.1", "--reload_interval", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def loaded(port):
            tags = get(port, "/data/plugin/histograms/tags")
            return {SMOKE, USER} <= tags.keys() and all(
                f"wgrad/layer{d + 1}" in tags[run] for run, d in ((SMOKE, 5), (USER, 2)))

        wait_for(port, proc, loaded)
        assert set(get(port, "/data/runs")) == {SMOKE, USER}  # named by their dirs, not "."
        charts = {}
        for category in get(port, "/data/plugin/custom_scalars/layout")["category"]:
            for chart in category["chart"]:
                charts.setdefault(chart["title"], []).append(chart)  # one per run's layout
        assert set(PER_LAYER_CHARTS) <= charts.keys()

        # Each chart names every layer's tag of each run (the smoke run's 5, the CNN's 2), and the
        # server finds that tag's data under it: a multiline chart's regex (anchored, so it
        # matches that tag alone), a margin chart's literal tag.
        def series(chart):
            if "margin" in chart:
                return [re.escape(t) + "$" for s in chart["margin"]["series"] for t in s.values()]
            return chart["multiline"]["tag"]

        for title in PER_LAYER_CHARTS:
            regexes = {r for chart in charts[title] for r in series(chart)}
            for run, depth, theory in ((SMOKE, 5, True), (USER, 2, False)):
                stat = {PER_LAYER_CHARTS[0]: "act/layer{l}/mean", PER_LAYER_CHARTS[1]:
                        "act/layer{l}/abs_p98", PER_LAYER_CHARTS[2]: "grad/layer{l}/std",
                        PER_LAYER_CHARTS[3]: "wgrad/layer{l}/std"}[title]
                for l in range(1, depth + 1):
                    wanted = [stat.format(l=l)] + (["theory/" + stat.format(l=l)]
                                                   if theory and "theory" in title else [])
                    for tag in wanted:
                        regex = re.escape(tag) + "$"
                        assert regex in regexes, (title, tag)
                        found = get(port, "/data/plugin/custom_scalars/scalars", run=run,
                                    tag=regex)["tag_to_events"]
                        assert list(found) == [tag] and found[tag], (run, tag)
        fig9 = {r for chart in charts["Fig. 9: weight-gradient std over minibatches"]
                for r in series(chart)}
        assert fig9 == {re.escape(f"wgrad/layer{l}/batch_std") + "$" for l in range(1, 7)}  # lean/autograd runs only

        # Histograms: every layer's, each bucket inside the quantity's fixed range.
        hist_tags = get(port, "/data/plugin/histograms/tags")
        for run, depth in ((SMOKE, 5), (USER, 2)):
            expected = {f"{k}/layer{l}" for k in ("act", "grad", "wgrad")
                        for l in range(1, depth + 1)} | {f"wgrad/layer{depth + 1}"}
            assert set(hist_tags[run]) == expected
            for tag in expected:
                bound = RANGES[run][tag.split("/")[0]]
                for _, step, buckets in get(port, "/data/plugin/histograms/histograms",
                                            run=run, tag=tag):
                    edges = [e for left, right, _ in buckets for e in (left, right)]
                    assert edges and all(-bound - 1e-6 <= e <= bound + 1e-6 for e in edges), (
                        run, tag, step, min(edges), max(edges))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
