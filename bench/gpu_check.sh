#!/usr/bin/env bash
# Install llem on a lent GPU machine (offline) and run every GPU check in one go.
#
# Run from the repository root on the GPU machine, with the wheels the machine lacks in .whl/ (msgspec,
# bitsandbytes, and zeus with its dependencies: see docs/methodology.md, "Cross-check with Zeus"):
#
#     bash bench/gpu_check.sh [stage ...]
#
# stages: doctor tests run pytorch overhead window window-inside example study measure crosscheck
#
# No stage named: all of them. Every stage's output goes to $OUT/gpu_check.log (and the terminal); result folders
# are packed into $OUT/results.tgz. Nothing here changes clocks, power limits or any other GPU setting.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/llem-gpu-check}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
RESULTS=/tmp/llem-gpu-results
export PYTHONUNBUFFERED=1 LLEM_CACHE_DIR=${LLEM_CACHE_DIR:-/tmp/llem-cache}

if ! python3 -c "import llem, llem_pytorch" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed" | tee -a "$LOG"; exit 1; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  python3 -m pip install -q --no-index --no-deps --no-build-isolation -e core -e plugins/llem-pytorch \
    -e plugins/llem-tensorrt >/dev/null || { echo "llem install failed" | tee -a "$LOG"; exit 1; }
fi
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}

stage() {  # stage NAME TIMEOUT_S COMMAND...: run one check, log it, keep going on failure
  local name=$1 limit=$2; shift 2
  echo "=== $name: $*" | tee -a "$LOG"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  echo "=== $name: exit ${PIPESTATUS[0]} after $((SECONDS - t0)) s" | tee -a "$LOG"
}

want() { [ $# -eq 0 ] && return 0; local s; for s in "${STAGES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
STAGES=("$@")
[ ${#STAGES[@]} -eq 0 ] && STAGES=(doctor tests run pytorch overhead window window-inside example study measure crosscheck)

want doctor && stage doctor 60 python3 -m llem doctor
want tests && stage tests 300 python3 -m pytest -q -rs -s -p no:cacheprovider tests/gpu tests/measure tests/pytorch -x
want run && stage run 300 python3 bench/gpu_run.py --batch-sizes 1,8,32 --output "$RESULTS/gpu_run"
want pytorch && stage pytorch 420 python3 bench/gpu_pytorch.py --out "$RESULTS/gpu_pytorch"
want overhead && stage overhead 560 python3 bench/pytorch_overhead.py --model random:llama-3.2-1b --batch-sizes 1,8,32 --input-tokens 128 --output-tokens 128 --runs 3
want window && stage window 240 python3 bench/window_truth.py --repeats 8 --truth-s 20
want window-inside && stage window-inside 200 python3 bench/window_truth.py --repeats 8 --truth-s 20 --inside-load
want example && stage example 300 python3 -m llem run examples/llama-3.2-1b-gpu.yaml --set n_prompts=64 --output "$RESULTS/example"
want study && stage study 400 python3 bench/study_efficiency.py --modes isolated --model random:llama-3.2-1b \
  --precision bf16 --n-prompts 256 --batch-sizes 16 --set pytorch.cache_implementation=static --out "$RESULTS/study"
want measure && stage measure 300 python3 bench/measure_overhead.py --gpu
want crosscheck && stage crosscheck 180 python3 bench/energy_crosscheck.py --repeats 2

[ -d "$RESULTS" ] && tar czf "$OUT/results.tgz" -C "$RESULTS" . 2>/dev/null
echo "gpu_check done: $LOG" | tee -a "$LOG"
