#!/usr/bin/env bash
# GUI stall benchmark: emoe-studio (offscreen) decodes continuously on the built-in demo model
# with the heatmap, memory and latency plots live, while a 0 ms timer measures how long the GUI
# thread is kept from its event loop. Prints one JSON object:
#   {"max_stall_ms", "p99_stall_ms", "p50_stall_ms", "stalls_over_16ms", "stalls_over_50ms",
#    "blocked_fraction", "samples", "ticks", "tokens", "seconds"}
# Percentiles are time-weighted (an input event arriving at a random moment waits at most the
# p99 figure with probability 0.99); blocked_fraction is the share of the run spent in gaps
# longer than a 60 Hz frame.
# Usage: scripts/bench_gui.sh [SECONDS] [extra emoe-studio options, e.g. --routing fallback
# --budget 40]. Environment: EMOE_BUILD_DIR (default build) is a configured build directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${EMOE_BUILD_DIR:-build}
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  echo "bench_gui.sh: error: $BUILD is not a configured build directory (set EMOE_BUILD_DIR)" >&2
  exit 1
fi
cmake --build "$BUILD" --target emoe-studio >/dev/null
SECS=${1:-10}
shift || true

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME=$tmp/data XDG_CONFIG_HOME=$tmp/config XDG_RUNTIME_DIR=$tmp/run
unset EMOE_DATA_DIR
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
QT_QPA_PLATFORM=offscreen "$BUILD/bin/emoe-studio" --measure-stall "$SECS" "$@" \
  2> >(grep -v 'propagateSizeHints' >&2)
