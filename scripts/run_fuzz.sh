#!/usr/bin/env bash
# Builds the GGUF reader's libFuzzer target with clang (ASan + UBSan) and runs it for a bounded
# time. Exits non-zero when the fuzzer finds a crash, leak, timeout or invariant violation; the
# input that triggered it is saved under $BUILD/fuzz-artifacts/.
#
# Usage: scripts/run_fuzz.sh [seconds]      (default 60)
# Env:   FUZZ_BUILD_DIR  build directory (default <repo>/build-fuzz)
#        FUZZ_JOBS       parallel build jobs (default 2)
#        FUZZ_ARGS       extra libFuzzer flags, e.g. "-seed=1 -runs=100000"
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${FUZZ_JOBS:-2}"

# tests/fuzz is configured on its own so that only the reader's sources need to build with clang.
CC=clang CXX=clang++ cmake -S "$root/tests/fuzz" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target fuzz_gguf -j"$jobs"

# The committed seeds are copied so that new inputs the fuzzer keeps do not land in the repo.
corpus="$build/fuzz-corpus"
artifacts="$build/fuzz-artifacts"
mkdir -p "$corpus" "$artifacts"
cp -n "$root"/tests/fuzz/corpus/*.seed "$corpus"/

echo "fuzzing the GGUF reader for ${seconds}s (corpus $corpus)"
# shellcheck disable=SC2086
"$build/bin/fuzz_gguf" "$corpus" \
  -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -dict="$root/tests/fuzz/gguf.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
  ${FUZZ_ARGS:-}
