#!/usr/bin/env bash
# One call on a lent GPU machine (CUDA 13, CMake, ninja; no Qt, no SQLite, no network; about
# 10 minutes) gives every figure of the CUDA backend:
#   1. configures build-gpu/ (-DEMOE_BUILD_DB=OFF -DEMOE_CUDA=ON, Release) and builds gpu_check
#      and bench_gpu;
#   2. starts generating the benchmark's model in the background (CPU only), while
#   3. gpu_check --require-gpu runs every GPU check (JSON report), and compute-sanitizer
#      memcheck and racecheck run the paging checks (when the sanitizer is installed);
#   4. bench_gpu measures copy ceilings, prefill/decode tok/s at 100/60/30% expert budgets and
#      the bandwidth ratios;
#   5. prints a short table.
# Every step runs under `timeout`, sized from what is left of GPU_CHECK_LIMIT_S (default 570 s),
# so the script always ends in time and prints what it has. Logs and JSON go to
# build-gpu/gpu_check_logs; when OUT is set (the device runner fetches $OUT, at most 8 files),
# $OUT gets summary.txt, gpu_check.json, bench_gpu.json and all logs as gpu_check_logs.tar.gz.
# Environment: GPU_CHECK_LIMIT_S, BENCH_ARGS (extra bench_gpu options, e.g. "--layers 4"),
# BUILD_DIR (default build-gpu), CUDA_ROOT (default /usr/local/cuda).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
START=$(date +%s)
LIMIT=${GPU_CHECK_LIMIT_S:-570}
RESERVE=15  # seconds kept for the summary
BUILD=${BUILD_DIR:-$ROOT/build-gpu}
CUDA_ROOT=${CUDA_ROOT:-/usr/local/cuda}
LOG=$BUILD/gpu_check_logs
mkdir -p "$LOG" "$BUILD"
SCRATCH=$BUILD/scratch
mkdir -p "$SCRATCH"
JOBS=$(nproc 2>/dev/null || echo 8)
export PATH="$CUDA_ROOT/bin:$PATH"

elapsed() { echo $(($(date +%s) - START)); }
left() { echo $((LIMIT - $(elapsed) - RESERVE)); }

# step NAME CAP LOGFILE CMD...: runs CMD under timeout min(CAP, time left); its status is in
# STEP_RC (124: timed out or skipped for lack of time).
STEP_RC=0
step() {
  local name=$1 cap=$2 log=$3
  shift 3
  local t
  t=$(left)
  [ "$cap" -lt "$t" ] && t=$cap
  if [ "$t" -lt 10 ]; then
    echo "not run: out of time" >"$log"
    echo "== $name: not run (out of time)"
    STEP_RC=124
    return
  fi
  echo "== $name (at $(elapsed)s, up to ${t}s)"
  local s0
  s0=$(date +%s)
  timeout --kill-after=10 "$t" "$@" >"$log" 2>&1
  STEP_RC=$?
  echo "   exit $STEP_RC after $(($(date +%s) - s0))s"
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -a)"
  echo "cores: $JOBS"
  command -v nvidia-smi >/dev/null && nvidia-smi 2>&1
  command -v nvcc >/dev/null && nvcc --version 2>&1
  cmake --version 2>&1 | head -1
  (cd "$ROOT" && git rev-parse HEAD 2>/dev/null && git status --short 2>/dev/null | head -50)
} >"$LOG/machine.txt" 2>&1

# 1. Configure and build.
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
LAUNCH=()
command -v ccache >/dev/null &&
  LAUNCH=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
[ -f "$BUILD/CMakeCache.txt" ] && GEN=()  # an existing tree keeps its generator
step configure 120 "$LOG/configure.log" cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" "${LAUNCH[@]}" \
  -DEMOE_BUILD_DB=OFF -DEMOE_CUDA=ON -DCMAKE_BUILD_TYPE=Release
CONFIGURE_RC=$STEP_RC
BUILD_RC=$CONFIGURE_RC
if [ "$CONFIGURE_RC" -eq 0 ]; then
  step build 400 "$LOG/build.log" cmake --build "$BUILD" -j "$JOBS" --target gpu_check bench_gpu
  BUILD_RC=$STEP_RC
fi
GPU_CHECK=$BUILD/bin/gpu_check
BENCH=$BUILD/bin/bench_gpu

# 2. The benchmark model, generated on the CPU while the checks use the GPU.
read -r -a BENCH_EXTRA <<<"${BENCH_ARGS:-}"
GEN_PID=
if [ "$BUILD_RC" -eq 0 ]; then
  t=$(left)
  if [ "$t" -gt 30 ]; then
    timeout --kill-after=10 "$t" "$BENCH" --generate-only --scratch "$SCRATCH" "${BENCH_EXTRA[@]}" \
      >"$LOG/bench_generate.json" 2>"$LOG/bench_generate.log" &
    GEN_PID=$!
  fi
fi

# 3. Checks, then the sanitizers on the paging checks.
CHECK_RC=124
MEMCHECK_RC=-1
RACECHECK_RC=-1
SANITIZER=$CUDA_ROOT/bin/compute-sanitizer
[ -x "$SANITIZER" ] || echo "no $SANITIZER: memcheck and racecheck not run" >"$LOG/memcheck.log"
if [ "$BUILD_RC" -eq 0 ]; then
  step gpu_check 150 "$LOG/gpu_check.log" "$GPU_CHECK" --require-gpu --json "$LOG/gpu_check.json"
  CHECK_RC=$STEP_RC
  if [ -x "$SANITIZER" ] && [ "$CHECK_RC" -ne 2 ]; then
    step memcheck 75 "$LOG/memcheck.log" "$SANITIZER" --tool memcheck --error-exitcode 9 \
      "$GPU_CHECK" --require-gpu --filter paging
    MEMCHECK_RC=$STEP_RC
    step racecheck 75 "$LOG/racecheck.log" "$SANITIZER" --tool racecheck --error-exitcode 9 \
      "$GPU_CHECK" --require-gpu --filter paging
    RACECHECK_RC=$STEP_RC
  fi
fi

# 4. The benchmark, once its model is ready.
BENCH_RC=124
if [ -n "$GEN_PID" ] && [ "$CHECK_RC" -eq 2 ]; then
  kill "$GEN_PID" 2>/dev/null  # no GPU: nothing to benchmark
  wait "$GEN_PID" 2>/dev/null
  GEN_PID=
fi
if [ -n "$GEN_PID" ]; then
  echo "== waiting for the benchmark model (at $(elapsed)s)"
  wait "$GEN_PID"
  GEN_RC=$?
  echo "   generation exit $GEN_RC"
  if [ "$GEN_RC" -eq 0 ]; then
    export BENCH_JSON=$LOG/bench_gpu.json
    # shellcheck disable=SC2016  # expanded by the inner bash
    step bench_gpu 600 "$LOG/bench_gpu.log" bash -c 'exec "$@" >"$BENCH_JSON"' _ \
      "$BENCH" --scratch "$SCRATCH" "${BENCH_EXTRA[@]}"
    BENCH_RC=$STEP_RC
  fi
fi

# 5. The table.
verdict() {  # exit status -> word
  case $1 in
    -1) echo "not run" ;;
    0) echo "ok" ;;
    2) echo "NO GPU (exit 2)" ;;
    124 | 137) echo "TIMED OUT" ;;
    *) echo "FAILED (exit $1)" ;;
  esac
}
{
  echo
  echo "================ gpu_check.sh summary ($(elapsed)s) ================"
  head -1 "$LOG/gpu_check.log" 2>/dev/null | sed 's/^/device:     /'
  printf 'build:      %s\n' "$(verdict "$BUILD_RC")"
  if [ "$BUILD_RC" -ne 0 ]; then
    grep -m 15 -E "error|Error|FAILED" "$LOG/build.log" "$LOG/configure.log" 2>/dev/null
  fi
  if [ -f "$LOG/gpu_check.log" ]; then
    line=$(grep -E "^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped|^SKIP: no usable GPU" \
      "$LOG/gpu_check.log" | tail -1)
    printf 'checks:     %s [%s]\n' "${line:-no summary}" "$(verdict "$CHECK_RC")"
    if grep -q "^Failures:" "$LOG/gpu_check.log"; then
      sed -n '/^Failures:/,/^[0-9]* passed/p' "$LOG/gpu_check.log" | head -40
    fi
  fi
  sanitizer_line() {  # TOOL RC
    local detail
    detail=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$LOG/$1.log" 2>/dev/null | tail -1)
    [ "$2" -eq -1 ] && detail=$(head -1 "$LOG/memcheck.log" 2>/dev/null)
    printf '%-11s %s%s\n' "$1:" "$(verdict "$2")" "${detail:+ ($detail)}"
  }
  sanitizer_line memcheck "$MEMCHECK_RC"
  sanitizer_line racecheck "$RACECHECK_RC"
  if [ -f "$LOG/bench_gpu.log" ]; then
    printf 'bench:      %s\n' "$(verdict "$BENCH_RC")"
    grep "^summary:" "$LOG/bench_gpu.log" | sed 's/^summary: /  /'
    grep -m 5 "error" "$LOG/bench_gpu.log" | grep -v "^summary:"
  else
    printf 'bench:      not run\n'
    tail -3 "$LOG/bench_generate.log" 2>/dev/null
  fi
  echo "logs:       $LOG"
} | tee "$LOG/summary.txt"

if [ -n "${OUT:-}" ]; then
  for f in summary.txt gpu_check.json bench_gpu.json; do
    [ -f "$LOG/$f" ] && cp "$LOG/$f" "$OUT/"
  done
  tar -czf "$OUT/gpu_check_logs.tar.gz" -C "$(dirname "$LOG")" "$(basename "$LOG")"
fi

[ "$BUILD_RC" -eq 0 ] && [ "$CHECK_RC" -eq 0 ] && [ "$BENCH_RC" -eq 0 ]
