#!/usr/bin/env bash
# The run command of the README quick start: installs dependencies, builds the `emoe` CLI and
# generates text with the built-in demo model (created on first use, no download).
# Extra arguments go to `emoe generate` after the defaults and override them, for example
#   scripts/run.sh -p "Summarize: ..." -n 64 --temp 0.8 --seed 1
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
cmake --build build -j "$(nproc)" --target emoe

EMOE=build/bin/emoe
DATA_DIR=${EMOE_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/emoe-studio}
MODEL=$DATA_DIR/demo.gguf
mkdir -p "$DATA_DIR"

# A demo model written by an older build may no longer load; it is cheap to make again.
if [[ ! -s "$MODEL" ]] || ! "$EMOE" info "$MODEL" >/dev/null 2>&1; then
  echo "run.sh: generating the demo model at $MODEL"
  tmp="$DATA_DIR/.demo.$$.gguf"
  trap 'rm -f "$tmp"' EXIT
  "$EMOE" mkmodel --out "$tmp"
  mv -f "$tmp" "$MODEL"
  trap - EXIT
fi

echo "run.sh: $EMOE generate -m $MODEL"
exec "$EMOE" generate -m "$MODEL" \
  -p "Summarize: the committee met on Tuesday and agreed to extend the library's opening hours." \
  -n 32 "$@"
