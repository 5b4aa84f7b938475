#!/usr/bin/env bash
# The run command of the README quick start: installs dependencies, builds the workbench and
# the CLI, and starts `emoe-studio` on the built-in demo model (generated on first start into
# the data directory, no download). Arguments go to emoe-studio, for example
#   scripts/run.sh path/to/model.gguf        open another model
#   scripts/run.sh --routing fallback --budget 40
# Without a display (no DISPLAY or WAYLAND_DISPLAY) the window cannot open: the script then says
# so and runs the same demo through the CLI instead (`emoe generate` on the demo model).
# Environment: EMOE_DATA_DIR (default ${XDG_DATA_HOME:-~/.local/share}/emoe-studio) holds the
# demo model; EMOE_CUDA=ON|OFF overrides CUDA auto-detection.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

scripts/install_deps.sh

if [[ -f build/CMakeCache.txt ]] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' build/CMakeCache.txt; then
  rm -rf build/CMakeCache.txt build/CMakeFiles
fi
mkdir -p build
if ! cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMOE_SANITIZE=OFF \
  -DEMOE_CUDA="${EMOE_CUDA:-AUTO}" >build/configure.log 2>&1; then
  cat build/configure.log >&2
  echo "run.sh: error: configuring build/ failed (log: build/configure.log)" >&2
  exit 1
fi
cmake --build build -j "$(nproc)" --target emoe-studio emoe

if [[ -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ]]; then
  echo "run.sh: build/bin/emoe-studio $*"
  exec build/bin/emoe-studio "$@"
fi

echo "run.sh: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so emoe-studio cannot"
echo "run.sh: open its window here; running the demo through the CLI instead."
EMOE=build/bin/emoe
DATA_DIR=${EMOE_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/emoe-studio}
MODEL=$DATA_DIR/demo.gguf
mkdir -p "$DATA_DIR"
# A demo model written by an older build may no longer be current; it is cheap to make again.
if [[ ! -s "$MODEL" ]] || ! "$EMOE" info "$MODEL" 2>/dev/null | grep -q 'emoe.task_routing'; then
  echo "run.sh: generating the demo model at $MODEL"
  tmp="$DATA_DIR/.demo.$$.gguf"
  trap 'rm -f "$tmp"' EXIT
  "$EMOE" mkmodel --demo --out "$tmp"
  mv -f "$tmp" "$MODEL"
  trap - EXIT
fi
exec "$EMOE" generate -m "$MODEL" --budget 60% --routing fallback \
  -p "Summarize: the committee met on Tuesday and agreed to extend the library's opening hours." \
  -n 32
