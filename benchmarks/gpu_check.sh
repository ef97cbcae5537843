#!/usr/bin/env bash
# The GPU checks in one run (a lent GPU machine's time is short): the CUDA tests,
# then the CUDA benchmarks of benchmarks/README.md, then the CPU executors on that
# machine's cores. Logs and JSON go to $OUT (default ./gpu-out); the tables print last.
#
#   bash benchmarks/gpu_check.sh            # python3 must hold a CUDA build of torch
#   STAGES="tests cuda" bash benchmarks/gpu_check.sh  # some of: tests cuda clips train cpu ranks
#   DEVICE=cpu QUICK=1 bash benchmarks/gpu_check.sh   # the script's plumbing, anywhere
set -u
STAGES=" ${STAGES:-tests cuda clips train cpu ranks} "
want() { [[ $STAGES == *" $1 "* ]]; }
fail() { echo "gpu_check.sh: error: $*" >&2; exit 2; }
for stage in $STAGES; do
    [[ " tests cuda clips train cpu ranks " == *" $stage "* ]] ||
        fail "unknown stage '$stage' in STAGES; the stages: tests cuda clips train cpu ranks"
done
OUT=${OUT:-gpu-out}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
mkdir -p "$OUT" 2>/dev/null && [ -w "$OUT" ] || fail "cannot write to OUT=$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [[ $DEVICE == cuda* ]]; then  # on a machine without CUDA every stage but cpu and ranks would fail
    reason=$($PY -c "from streamnets.parallel.cuda import cuda_unavailable_reason as r; print(r() or '')") ||
        fail "$PY cannot import streamnets and torch (set PYTHON to the environment's python)"
    [ -z "$reason" ] || fail "DEVICE=$DEVICE needs a CUDA GPU: $reason (DEVICE=cpu QUICK=1 checks the script's plumbing)"
fi
if [ -n "${QUICK:-}" ]; then
    NETS="cifar10_dsr0"; BATCHES="1"; SMALL="--frames 4 --repeats 2 --warmup 1"; STEP="--repeats 2 --warmup 1"
else
    NETS="cifar10_dsr0 cifar10_dsr2 cifar10_dsr4 cifar10_dsr6"; BATCHES="1 16"; SMALL="--repeats ${REPEATS:-10}"
    STEP=""
fi

{ nvidia-smi -L 2>/dev/null; nproc; df -h /dev/shm | tail -n 1  # ProcessExecutor's shared memory
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"; } | tee "$OUT/machine.txt"

want tests && { timeout 120 $PY -m pytest -q -p no:cacheprovider tests/test_parallel.py \
    tests/test_nn_device.py tests/test_data_sequences.py 2>&1 | tee "$OUT/tests.log" | tail -n 12; }

if want cuda; then
    timeout 240 $PY benchmarks/bench_parallel.py --device "$DEVICE" --network $NETS --batch $BATCHES \
        $SMALL --json > "$OUT/bench_parallel_$DEVICE.json" 2> "$OUT/bench_parallel_$DEVICE.err"
    echo "bench_parallel exit $?"
fi
# Throughput on a clip against the frames per CUDA graph (dsr6; 16 is in the cuda stage),
# and a streaming graph's device time with and without its waits.
if want clips && [ "$DEVICE" = cuda ]; then
    for k in ${CLIP_FRAMES:-4 64}; do
        timeout 60 $PY benchmarks/bench_parallel.py --device "$DEVICE" --network cifar10_dsr6 --batch $BATCHES \
            $SMALL --frames "$k" --frames-per-graph "$k" --executor sequential-cuda-graphs \
            sequential-cuda-pipelined streaming-cuda-pipelined --json > "$OUT/bench_clips_$k.json" \
            2> "$OUT/bench_clips_$k.err"
        echo "bench_parallel, $k frames per graph: exit $?"
    done
    timeout 60 $PY benchmarks/cuda_overlap.py --network $NETS --batch $BATCHES --json > "$OUT/cuda_overlap.json" \
        2> "$OUT/cuda_overlap.err"
    echo "cuda_overlap exit $?"
fi
if want train; then
    timeout 45 $PY benchmarks/bench_streamnet.py --device "$DEVICE" $STEP --json \
        > "$OUT/bench_streamnet_$DEVICE.json" 2> "$OUT/bench_streamnet_$DEVICE.err"
    echo "bench_streamnet exit $?"
    timeout 60 $PY benchmarks/bench_train.py --device "$DEVICE" --json > "$OUT/bench_train_$DEVICE.json" \
        2> "$OUT/bench_train_$DEVICE.err"
    echo "bench_train exit $?"
fi
# The thread executors (1, 2, 4 intra-op threads per worker) and the gloo ranks
# on this machine's cores (dsr6 only).
if want cpu; then
    # One process per team size: teams leave libgomp throttled for the rest of a process.
    for team in ${TEAMS:-1 2 4}; do
        timeout 120 $PY benchmarks/bench_parallel.py --device cpu --network cifar10_dsr6 --batch $BATCHES \
            $SMALL --threads-per-worker $team --json > "$OUT/bench_parallel_cpu_t$team.json" \
            2> "$OUT/bench_parallel_cpu_t$team.err"
        echo "bench_parallel cpu, $team threads per worker: exit $?"
    done
fi
if want ranks; then
    timeout 90 $PY benchmarks/bench_parallel.py --network cifar10_dsr6 --batch 1 --ranks 1 2 4 \
        --rank-frames 100 --ranks-only --json > "$OUT/bench_ranks.json" 2> "$OUT/bench_ranks.err"
    echo "bench ranks exit $?"
fi

$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
from bench_parallel import print_scaling, print_table
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    print(f"\n## {path.name}")
    try:
        data = json.loads(path.read_text())
    except ValueError:  # cut short or failed: what it printed, and its errors
        print(path.read_text()[-1500:])
        err = path.with_suffix(".err")
        print(err.read_text()[-1500:] if err.exists() else "")
        continue
    if "results" in data:
        print_table(data["results"])
        for s in data["distributed"]:
            print_scaling(s)
    else:
        print(json.dumps(data)[:1500])
EOF
