#!/usr/bin/env bash
# The test command (README and .ci/run call exactly this). Steps:
#   1. scripts/install_deps.sh
#   2. configure build/ (Release, Ninja, CUDA when nvcc is found), build everything, run ctest
#   3. sanitizer pass: build-asan/ with ASan+UBSan, CPU only, no GUI; only the tests whose names
#      match $SAN_REGEX are built and run (gpu_checks: the GPU backend on the host reference
#      device, so its buffers and index arrays are bounds-checked too)
#   4. ThreadSanitizer pass: build-tsan/, CPU only, no GUI; only the tests matching $TSAN_REGEX
#      (the expert paging tests, whose copy thread must be race-free)
#   5. scripts/run_fuzz.sh 60, when that script exists
# Prints a summary and ends with "N passed, N failed": the tests of both ctest runs, plus one
# failure for each step that failed outside a test (configure, build, fuzzing).
# Exits non-zero on any failure.
#
# Environment:
#   EMOE_TEST_QUICK=1   skip the sanitizer and fuzz passes (local iteration)
#   EMOE_TEST_JOBS=N    ctest parallelism (default 2: some tests are heavy)
#   EMOE_BUILD_JOBS=N   build parallelism (default: nproc)
#   EMOE_CUDA=ON|OFF    override CUDA auto-detection for build/
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

QUICK=${EMOE_TEST_QUICK:-0}
CTEST_JOBS=${EMOE_TEST_JOBS:-2}
BUILD_JOBS=${EMOE_BUILD_JOBS:-$(nproc)}
SAN_REGEX='gguf|tokenizer|kernels|engine|model|db|gpu_checks'
TSAN_REGEX='experts|routing_modes|routing_writer'
FUZZ_SECONDS=60
export QT_QPA_PLATFORM=offscreen

passed=0
failed=0
summary=()
failed_tests=()
t_start=$SECONDS

banner() { printf '\n==== %s ====\n' "$*"; }
record() { summary+=("$(printf '  %-44s %s' "$1" "$2")"); }
elapsed() { printf '%dm%02ds' $((($1) / 60)) $((($1) % 60)); }

finish() {
  banner "eMoE test summary"
  printf '%s\n' "${summary[@]}"
  if ((${#failed_tests[@]} > 0)); then
    echo "  failed tests:"
    printf '    %s\n' "${failed_tests[@]}"
  fi
  echo "  total time $(elapsed $((SECONDS - t_start)))"
  echo "$passed passed, $failed failed"
  ((failed == 0))
  exit $?
}

# configure DIR CMAKE_ARGS...: a cache from another generator would make cmake refuse, so it is
# dropped (the build directories are this script's own).
configure() {
  local dir=$1
  shift
  if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$dir/CMakeCache.txt"; then
    echo "test.sh: $dir was configured with another generator; reconfiguring with Ninja"
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
  mkdir -p "$dir"
  if ! cmake -S "$ROOT" -B "$dir" -G Ninja "$@" >"$dir/configure.log" 2>&1; then
    cat "$dir/configure.log"
    echo "test.sh: error: configuring $dir failed (log: $dir/configure.log)" >&2
    return 1
  fi
  grep -E '^-- eMoE' "$dir/configure.log" || true
}

# run_ctest LABEL DIR CTEST_ARGS...: runs ctest and adds its counts to the totals.
run_ctest() {
  local label=$1 dir=$2
  shift 2
  local log="$dir/ctest.log" t0=$SECONDS rc
  ctest --test-dir "$dir" --output-on-failure "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local line total nfail
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [[ -n "$line" ]]; then
    nfail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
    while IFS= read -r t; do
      [[ -n "$t" ]] && failed_tests+=("$label: $t")
    done < <(sed -n '/The following tests FAILED:/,$p' "$log" | sed -nE 's/^[[:space:]]+[0-9]+ - (.*)$/\1/p')
    record "$label" "$((total - nfail)) passed, $nfail failed ($(elapsed $((SECONDS - t0))))"
  elif grep -q 'No tests were found' "$log"; then
    record "$label" "no tests found"
  else
    failed=$((failed + 1))
    record "$label" "FAILED: ctest exited with $rc without a summary (log: $log)"
  fi
}

# --- 1. dependencies ---------------------------------------------------------------------------
banner "dependencies"
if ! scripts/install_deps.sh; then
  failed=$((failed + 1))
  record "dependencies" "FAILED"
  finish
fi

# --- 2. Release build and tests -------------------------------------------------------------
banner "build/ (Release)"
t0=$SECONDS
# The build keeps going past errors (-k 0) and the tests still run: one broken file then shows
# up as its own failures instead of hiding every other result (unbuilt tests count as failed).
if configure build -DCMAKE_BUILD_TYPE=Release -DEMOE_SANITIZE=OFF -DEMOE_CUDA="${EMOE_CUDA:-AUTO}"; then
  if cmake --build build -j "$BUILD_JOBS" -- -k 0; then
    record "build (Release)" "ok ($(elapsed $((SECONDS - t0))))"
  else
    failed=$((failed + 1))
    record "build (Release)" "FAILED (see the compiler errors above)"
  fi
  banner "ctest build/"
  run_ctest "ctest build/" build -j "$CTEST_JOBS"
else
  failed=$((failed + 1))
  record "configure build/" "FAILED (tests not run)"
fi

# build_selected LABEL DIR REGEX T0: builds only the targets of the ctest tests matching REGEX in
# the configured DIR (test "area.test_x" is target "area_test_x") and records the result.
# Leaves the target names in $selected; returns 1 when no test matches.
build_selected() {
  local label=$1 dir=$2 regex=$3 t0=$4
  mapfile -t selected < <(ctest --test-dir "$dir" -N -R "$regex" |
    sed -nE 's/^[[:space:]]*Test +#[0-9]+: ([^ ]+).*$/\1/p' | sed 's/\./_/')
  if ((${#selected[@]} == 0)); then
    record "build ($label)" "no tests match '$regex'"
    return 1
  fi
  if cmake --build "$dir" -j "$BUILD_JOBS" --target "${selected[@]}" -- -k 0; then
    record "build ($label)" "ok, ${#selected[@]} tests ($(elapsed $((SECONDS - t0))))"
  else
    failed=$((failed + 1))
    record "build ($label)" "FAILED (see the compiler errors above)"
  fi
}

# --- 3. sanitizer pass ----------------------------------------------------------------------
if [[ "$QUICK" == 1 ]]; then
  record "sanitizer pass" "skipped (EMOE_TEST_QUICK=1)"
else
  banner "build-asan/ (ASan+UBSan, tests matching '$SAN_REGEX')"
  t0=$SECONDS
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  if configure build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMOE_SANITIZE=ON -DEMOE_CUDA=OFF \
    -DEMOE_BUILD_GUI=OFF; then
    if build_selected "ASan+UBSan" build-asan "$SAN_REGEX" "$t0"; then
      # LeakSanitizer needs ptrace-like access that some containers deny; it then fails every
      # test for reasons unrelated to the code, so leak checks are dropped there.
      probe=$(find build-asan/tests -maxdepth 2 -type f -name "${selected[0]}" | head -n 1)
      if [[ -n "$probe" ]] && "$probe" -functions 2>&1 | grep -q 'LeakSanitizer has encountered a fatal error'; then
        echo "test.sh: LeakSanitizer cannot run here; continuing without leak checks"
        export ASAN_OPTIONS="${ASAN_OPTIONS/detect_leaks=1/detect_leaks=0}"
      fi
      run_ctest "ctest build-asan/ ($SAN_REGEX)" build-asan -j "$CTEST_JOBS" -R "$SAN_REGEX"
    fi
  else
    failed=$((failed + 1))
    record "configure build-asan/" "FAILED"
  fi
fi

# --- 4. ThreadSanitizer pass ----------------------------------------------------------------
if [[ "$QUICK" == 1 ]]; then
  record "tsan pass" "skipped (EMOE_TEST_QUICK=1)"
else
  banner "build-tsan/ (TSan, tests matching '$TSAN_REGEX')"
  t0=$SECONDS
  # Qt is not built with TSan: QtTest's watchdog thread makes TSan report races inside QtCore and
  # QtTest on every test. ignore_noninstrumented_modules drops reports from uninstrumented
  # libraries only; a race in the project's own code is still reported (checked by planting one).
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1}
  if configure build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMOE_TSAN=ON -DEMOE_SANITIZE=OFF \
    -DEMOE_CUDA=OFF -DEMOE_BUILD_GUI=OFF; then
    if build_selected "TSan" build-tsan "$TSAN_REGEX" "$t0"; then
      run_ctest "ctest build-tsan/ ($TSAN_REGEX)" build-tsan -j "$CTEST_JOBS" -R "$TSAN_REGEX"
    fi
  else
    failed=$((failed + 1))
    record "configure build-tsan/" "FAILED"
  fi
fi

# --- 5. fuzzing -----------------------------------------------------------------------------
if [[ "$QUICK" == 1 ]]; then
  record "fuzz" "skipped (EMOE_TEST_QUICK=1)"
elif [[ -f scripts/run_fuzz.sh ]]; then
  banner "fuzz (scripts/run_fuzz.sh $FUZZ_SECONDS)"
  t0=$SECONDS
  if bash scripts/run_fuzz.sh "$FUZZ_SECONDS"; then
    record "fuzz" "ok ($(elapsed $((SECONDS - t0))))"
  else
    failed=$((failed + 1))
    record "fuzz" "FAILED (see output above)"
  fi
else
  record "fuzz" "skipped (no scripts/run_fuzz.sh)"
fi

finish
