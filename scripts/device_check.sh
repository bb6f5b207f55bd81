#!/usr/bin/env bash
# The GPU check, in one go and at most 8 minutes, on a machine with one NVIDIA GPU:
#
#     bash scripts/device_check.sh [LOG]        # LOG: also written there (default device_check.log)
#
#   1. the device: nvidia-smi -L, torch and CUDA versions
#   2. CPU against CUDA on a small stack, eager and with CUDA graphs (scripts/device_agreement.py)
#   3. the stack of 64 against the plain loop, with and without graphs (target: >= 30x plain)
#   4. the bench on CUDA: plain, lean, a stack of 8, the mixed-init stack of 8 and Table 1's
#      Shapeset stack (9 models, data drawn on the device), each with and without graphs
#   5. Table 1's Shapeset stack through the trainer (python -m glorot_repro.train, 5x1000 tanh,
#      minibatch 10, 3 seeds x 3 learning rates), graphs on and off: end-to-end model-updates/s,
#      and whether the two runs end with the same numbers
#   6. the stack of 64 with train.defer=10 under graphs (is deferring worth it on a GPU?)
# Each step runs under `timeout`, within what is left of a 470 s budget; a step that fails or
# runs out of time is reported and the next one runs.
#
# Exit status: 0 every step ran and CPU and CUDA agree; 1 a step failed, timed out or was
# skipped; 2 no CUDA device (one line, "no CUDA device: ...", and nothing measured).
# Python: $PYTHON, else `python`, with this checkout first on PYTHONPATH.
# DEVICE_CHECK_DRY=1: a rehearsal on the CPU at a tiny net and a few updates, every step's
# plumbing and nothing measured (tests/test_device_check.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG="${1:-device_check.log}"
PY="${PYTHON:-python}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
BUDGET=470  # seconds for all steps: 8 minutes with the interpreter's start-ups to spare
mkdir -p "$(dirname "$LOG")"
: > "$LOG"

DRY="${DEVICE_CHECK_DRY:-}"
preflight_rc=0
[[ -n "$DRY" ]] || reason="$(timeout 90 "$PY" - <<'EOF' 2>&1
import shutil, sys
try:
    import torch
except Exception as err:
    print(f"cannot import torch ({type(err).__name__}: {err})")
    sys.exit(4)
if torch.cuda.is_available():
    sys.exit(0)
smi = "nvidia-smi is on PATH" if shutil.which("nvidia-smi") else "no nvidia-smi on PATH"
print(f"torch {torch.__version__} (CUDA build {torch.version.cuda}) sees none, {smi}", end="")
sys.exit(3)
EOF
)" || preflight_rc=$?
if (( preflight_rc == 3 )); then
    echo "no CUDA device: ${reason}; nothing measured (this check needs one NVIDIA GPU)" \
        | tee -a "$LOG"
    exit 2
elif (( preflight_rc != 0 )); then
    echo "device check cannot start: $(tail -n 1 <<<"$reason")" | tee -a "$LOG"
    exit 1
fi

TORCH_INFO='
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"{p.name}: {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}, "
          f"{p.multi_processor_count} SMs")
else:
    print("no CUDA device")
'

main() {
    set -euo pipefail
    local tmp failed=() dev=cuda tiny=() k64=500 k8=2000 repeats=3 agree=60 graphs_on=on
    local train_size=(train.updates=2000 train.eval_every=1000 train.checkpoint_every=1000
        log.every=1000 log.histograms=1000 dataset.n_valid=2000 dataset.n_test=2000)
    if [[ -n "$DRY" ]]; then
        echo "DEVICE_CHECK_DRY: a rehearsal on the CPU at a tiny net; nothing here is a measurement"
        dev=cpu tiny=(--width 16 --depth 2 --shapeset-images 0) k64=3 k8=3 repeats=1 agree=3
        graphs_on=auto  # =on refuses a CPU
        train_size=(model.width=16 train.updates=20 train.eval_every=10 train.checkpoint_every=10
            log.every=10 log.histograms=10 dataset.n_valid=100 dataset.n_test=100)
    fi
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/device_check.XXXXXX")"
    trap "rm -rf '$tmp'" EXIT

    step() {  # step NAME SECONDS COMMAND...: run it under timeout, within the budget left
        local name=$1 cap=$2 left limit start rc=0
        shift 2
        left=$((BUDGET - SECONDS))
        limit=$((cap < left ? cap : left))
        echo
        echo "== $name (at most ${limit} s; ${SECONDS} s in)"
        if ((limit < 15)); then
            echo "-- $name: SKIPPED, the 8-minute budget is spent"
            failed+=("$name (skipped)")
            return 0
        fi
        start=$SECONDS
        timeout --kill-after=5 "$limit" "$@" || rc=$?
        if ((rc == 124 || rc == 137)); then
            echo "-- $name: TIMED OUT after ${limit} s"
            failed+=("$name (timed out)")
        elif ((rc != 0)); then
            echo "-- $name: FAILED (exit $rc)"
            failed+=("$name (exit $rc)")
        else
            echo "-- $name: done in $((SECONDS - start)) s"
        fi
    }

    local commit
    commit="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "device check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $commit"
    if [[ -n "$DRY" ]]; then
        step "nvidia-smi -L" 20 echo "(dry run: nvidia-smi not called)"
    else
        step "nvidia-smi -L" 20 \
            bash -c 'nvidia-smi -L || echo "(nvidia-smi -L failed; torch below)"'
    fi
    step "torch" 40 "$PY" -c "$TORCH_INFO"

    step "CPU against CUDA, small stack, eager and graphs" 90 \
        "$PY" scripts/device_agreement.py --device "$dev" --updates "$agree"

    step "bench: stack of 64 against plain, graphs off and on" 90 \
        "$PY" scripts/bench.py --device "$dev" --cuda-graphs both --modes plain,replicas \
        --replicas 64 --updates "$k64" --repeats "$repeats" --shapeset-images 0 \
        --json-out "$tmp/k64.json" ${tiny[@]+"${tiny[@]}"}
    if [[ -s "$tmp/k64.json" ]]; then
        timeout 30 "$PY" - "$tmp/k64.json" <<'EOF' || true
import json, sys
r = json.load(open(sys.argv[1]))
ratio = r["replicas+graphs"] / r["plain"]
print(f"target: the stack of 64 with graphs runs {ratio:.1f}x the plain loop on this card "
      f"(target >= 30x): {'met' if ratio >= 30 else 'NOT met'}; without graphs "
      f"{r['replicas'] / r['plain']:.1f}x")
EOF
    fi

    step "bench: plain, lean, stack of 8, mixed-init stack of 8, Table 1 Shapeset stack" 130 \
        "$PY" scripts/bench.py --device "$dev" --cuda-graphs both \
        --modes plain,lean,replicas,mixed,table1 --replicas 8 --updates "$k8" \
        --repeats "$repeats" ${tiny[@]+"${tiny[@]}"}

    local overrides=(scale=cpu dataset=shapeset activation=tanh init=normalized "device=$dev"
        "train.replicas.seeds=[0,1,2]" "train.replicas.lrs=[0.01,0.03,0.1]" log.progress=false
        "${train_size[@]}")
    local mode value
    for mode in on off; do
        value=$mode
        [[ $mode == off ]] || value=$graphs_on
        step "trainer: Table 1 Shapeset stack, ${train_size[0]}, train.cuda_graphs=$value" 75 \
            "$PY" -m glorot_repro.train "${overrides[@]}" "train.cuda_graphs=$value" \
            "hydra.run.dir=$tmp/train_$mode"
    done
    timeout 30 "$PY" - "$tmp" <<'EOF' || true
import json, sys
from pathlib import Path
tmp = Path(sys.argv[1])
runs = {}
for mode in ("on", "off"):
    files = sorted((tmp / f"train_{mode}").glob("seed*_lr*/summary.json"))
    runs[mode] = {f.parent.name: json.loads(f.read_text()) for f in files}
    if files:
        rate = sum(s["examples_per_second"] for s in runs[mode].values()) / 10  # minibatch 10
        print(f"trainer, graphs {mode}: {len(files)} models, {rate:,.0f} model-updates/s end to "
              f"end (evaluations, probes and checkpoints included)")
if runs["on"] and runs["on"].keys() == runs["off"].keys():
    keys = ("status", "final_test_error", "best_valid_error")
    same = all({k: runs["on"][n][k] for k in keys} == {k: runs["off"][n][k] for k in keys}
               for n in runs["on"])
    print("trainer: graphs on and off end with "
          + ("the same errors in every replica" if same else "DIFFERENT errors:"))
    if not same:
        for n in runs["on"]:
            print(f"  {n}: on {[runs['on'][n][k] for k in keys]}, "
                  f"off {[runs['off'][n][k] for k in keys]}")
EOF

    step "bench: stack of 64 with train.defer=10 under graphs" 60 \
        "$PY" scripts/bench.py --device "$dev" --cuda-graphs on --defer 10 --modes plain,replicas \
        --replicas 64 --updates "$k64" --repeats "$repeats" --shapeset-images 0 \
        ${tiny[@]+"${tiny[@]}"}

    echo
    if ((${#failed[@]})); then
        echo "device check: $((${#failed[@]})) step(s) did not pass: ${failed[*]} (${SECONDS} s)"
        return 1
    fi
    echo "device check: every step ran (${SECONDS} s)"
}

set +e
main 2>&1 | tee -a "$LOG"
rc=${PIPESTATUS[0]}
exit "$rc"
