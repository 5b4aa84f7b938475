#!/usr/bin/env bash
# Decode and prefill throughput per architecture on generated, memory-bound MoE models with a
# Q4_K_M-style weight mix: one `emoe mkmodel` model per architecture `emoe mkmodel --arch`
# accepts, then `emoe bench --json` on each. Prints one JSON object on stdout:
#   {"type", "shape", "threads", "archs": {ARCH: {"mkmodel_s", "bench": <emoe bench --json>}}}
# where each bench run carries prefill_tok_s, decode_tok_s, decode_gb_s (weights streamed per
# second), memory_gb_s (the measured read bandwidth) and bandwidth_fraction (the decode target
# is >= 0.6).
#
# Usage: bench/bench_archs.sh [EMOE_BINARY]   (default: $EMOE, else build/bin/emoe)
# Environment (defaults in brackets): BENCH_DIR [a temporary directory, removed afterwards],
# BENCH_TYPE [q4_k_m, q4_k where mkmodel lacks it], BENCH_THREADS [1,2], BENCH_ARCHS [every
# architecture mkmodel lists], BENCH_SHAPE [--layers 8 --embd 1024 --experts 8 --top-k 2
# --ff 2816: about 330 MB at Q4_K_M, several times the last-level cache], BENCH_BENCH_ARGS
# [--prompt-tokens 256 --decode-tokens 32 --repetitions 2 --bandwidth-mib 512].
set -euo pipefail

emoe=${1:-${EMOE:-build/bin/emoe}}
if [[ ! -x $emoe ]]; then
  echo "bench_archs: no emoe binary at '$emoe' (pass its path or set EMOE)" >&2
  exit 2
fi

shape=${BENCH_SHAPE:---layers 8 --embd 1024 --experts 8 --top-k 2 --ff 2816}
threads=${BENCH_THREADS:-1,2}
bench_args=${BENCH_BENCH_ARGS:---prompt-tokens 256 --decode-tokens 32 --repetitions 2 --bandwidth-mib 512}

mk_help=$("$emoe" mkmodel --help 2>&1 || true)
type=${BENCH_TYPE:-}
if [[ -z $type ]]; then
  if grep -q 'q4_k_m' <<<"$mk_help"; then type=q4_k_m; else type=q4_k; fi
fi

# The --arch line lists the architectures as "architecture: a, b, c (...)"; keep the names.
if [[ -n ${BENCH_ARCHS:-} ]]; then
  archs=${BENCH_ARCHS//,/ }
else
  archs=$(grep -o 'architecture: [a-z0-9_, ]*' <<<"$mk_help" | head -n1 |
    sed -e 's/^architecture: //' -e 's/,/ /g')
  [[ -n $archs ]] || archs="llama qwen2moe qwen3moe olmoe"
fi

dir=${BENCH_DIR:-}
cleanup=0
if [[ -z $dir ]]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/emoe_bench_archs.XXXXXX")
  cleanup=1
fi
mkdir -p "$dir"
if [[ $cleanup == 1 ]]; then trap 'rm -rf "$dir"' EXIT; fi

now() { date +%s.%N; }

printf '{\n  "type": "%s",\n  "shape": "%s",\n  "threads": "%s",\n  "archs": {' \
  "$type" "$shape" "$threads"
first=1
for arch in $archs; do
  model="$dir/$arch-$type.gguf"
  t0=$(now)
  # shellcheck disable=SC2086  # shape is a list of options
  if ! "$emoe" mkmodel -o "$model" --arch "$arch" --type "$type" $shape >"$dir/$arch.mk.log" 2>&1; then
    echo "bench_archs: mkmodel --arch $arch failed:" >&2
    cat "$dir/$arch.mk.log" >&2
    continue
  fi
  t1=$(now)
  # shellcheck disable=SC2086
  if ! out=$("$emoe" bench -m "$model" --threads "$threads" $bench_args --json 2>"$dir/$arch.bench.log"); then
    echo "bench_archs: bench on $arch failed:" >&2
    cat "$dir/$arch.bench.log" >&2
    rm -f "$model"
    continue
  fi
  rm -f "$model"  # one model on disk at a time
  [[ $first == 1 ]] || printf ','
  first=0
  printf '\n    "%s": {"mkmodel_s": %s, "bench": %s}' "$arch" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" "$out"
done
printf '\n  }\n}\n'
