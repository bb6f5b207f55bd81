"""scripts/device_check.sh on a machine without a GPU: one line and exit status 2; and its
rehearsal on the CPU (DEVICE_CHECK_DRY=1), which runs every step's plumbing at a tiny net."""
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO

pytestmark = pytest.mark.e2e  # each test runs the script as a command


def device_check(tmp_path, **env):
    log = tmp_path / "logs" / "device_check.log"
    res = subprocess.run(["bash", str(REPO / "scripts" / "device_check.sh"), str(log)],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path,
                         env={**os.environ, "PYTHON": sys.executable, **env})
    return res, log


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_without_a_gpu_it_says_so_in_one_line_and_exits_2(tmp_path):
    res, log = device_check(tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("no CUDA device: "), res.stdout
    assert "nothing measured" in lines[0] and res.stderr == ""
    assert log.read_text() == res.stdout


def test_dry_run_goes_through_every_step(tmp_path):
    res, log = device_check(tmp_path, DEVICE_CHECK_DRY="1", TMPDIR=str(tmp_path))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    out = log.read_text()
    assert out == res.stdout
    for needle in ("agreement: ok", "target: the stack of 64 with graphs runs",
                   "replicas (K=64)+graphs", "mixed (K=8: 4 std + 4 norm)+graphs",
                   "table1 (K=9, Shapeset)+graphs",
                   "trainer: graphs on and off end with the same errors in every replica",
                   "device check: every step ran"):
        assert needle in out
    assert "FAILED" not in out and "TIMED OUT" not in out and "SKIPPED" not in out
    assert not list(tmp_path.glob("device_check.*"))  # its scratch dir (run dirs) is gone
