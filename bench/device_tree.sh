#!/usr/bin/env bash
# The device runner sends the working tree (tracked and not-ignored files) and at most 64 MiB
# in all; the four llama.cpp fixture models in tests/data make the tracked tree about 96 MiB.
# `slim` takes them out of the index (kept on disk, ignored through .git/info/exclude), so the
# tree is about 26 MiB and a run can carry the fixtures that fit next to it; `restore` puts
# them back. Never commit between the two.
#
#   bench/device_tree.sh slim
#   run(command="bash bench/gpu_check.sh",
#       carry=["tests/data/tiny-mixtral-q/model.gguf", "tests/data/tiny-mixtral-q4km/model.gguf"])
#   bench/device_tree.sh restore
#
# gpu_check skips (with a note) every fixture whose model file did not travel.
set -euo pipefail
cd "$(dirname "$0")/.."
models=(tests/data/tiny-mixtral-f32/model.gguf tests/data/tiny-mixtral-q/model.gguf
  tests/data/tiny-mixtral-q4km/model.gguf tests/data/tiny-mixtral-kq2/model.gguf)
exclude=.git/info/exclude
marker='# bench/device_tree.sh slim'
case "${1:-}" in
  slim)
    git rm --cached -q -- "${models[@]}"
    if ! grep -qF "$marker" "$exclude" 2>/dev/null; then
      { echo "$marker"; printf '/%s\n' "${models[@]}"; } >>"$exclude"
    fi
    echo "fixture models out of the index; tracked tree now:"
    git ls-files -z | du -ch --files0-from=- | tail -n 1
    ;;
  restore)
    git reset -q -- "${models[@]}"
    if [ -f "$exclude" ]; then
      sed -i "\|^$marker\$|d" "$exclude"
      for m in "${models[@]}"; do sed -i "\|^/$m\$|d" "$exclude"; done
    fi
    git status --short -- "${models[@]}"
    echo "fixture models back in the index"
    ;;
  *)
    echo "usage: $0 slim|restore" >&2
    exit 2
    ;;
esac
