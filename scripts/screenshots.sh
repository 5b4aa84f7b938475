#!/usr/bin/env bash
# Regenerates the documentation screenshots (docs/screenshots/*.png): emoe-studio on the
# built-in demo model under a virtual X server, with prompts answered and the heatmap, memory
# and latency plots live, and the Experiment dock after the built-in demo experiment. Every run
# starts from a fresh data directory and settings (the demo model is generated there), so the
# pictures do not depend on the user's state.
# Environment: EMOE_BUILD_DIR (default build) is a configured build directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${EMOE_BUILD_DIR:-build}
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  echo "screenshots.sh: error: $BUILD is not a configured build directory (set EMOE_BUILD_DIR)" >&2
  exit 1
fi
cmake --build "$BUILD" --target emoe-studio >/dev/null
command -v xvfb-run >/dev/null || { echo "screenshots.sh: error: xvfb-run is not installed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME=$tmp/data XDG_CONFIG_HOME=$tmp/config XDG_RUNTIME_DIR=$tmp/run
unset EMOE_DATA_DIR
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
OUT=docs/screenshots
mkdir -p "$OUT"

shot() {
  local file=$1
  shift
  # Qt's harmless "propagateSizeHints" chatter from the dock layout is dropped.
  xvfb-run -a -s "-screen 0 1600x1000x24" "$BUILD/bin/emoe-studio" --fresh --size 1600x1000 \
    --screenshot "$OUT/$file" "$@" 2> >(grep -v 'propagateSizeHints' >&2)
}

shot main-window.png --routing fallback --budget 50 --predictor frequency --interval 2 \
  --prompt "Summarize: the committee met on Tuesday and agreed to extend the library's opening hours." \
  --prompt "Question: which experts does a mixture of experts model use for each token?" \
  --prompt "Compare: exact routing loads missing experts, fallback routing substitutes resident ones."
shot main-window-dark.png --theme dark --routing exact --budget 50 \
  --prompt "Classify the sentiment: the new release is fast and the memory use is much lower." \
  --prompt "Summarize: experts are paged into a bounded device tier on demand."
shot experiment.png --experiment demo
echo "screenshots.sh: wrote $OUT/main-window.png, $OUT/main-window-dark.png and $OUT/experiment.png"
