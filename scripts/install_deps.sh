#!/usr/bin/env bash
# Installs the Debian 12 packages eMoE Studio builds and tests with. Idempotent and fast when
# everything is present: only missing packages trigger apt-get (and its update).
# Runs as root (CI) or through sudo when available. CUDA is optional and not installed here;
# CMake picks it up from /usr/local/cuda when present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build
  clang libclang-rt-14-dev # clang + compiler-rt: libFuzzer and sanitizers with clang
  qt6-base-dev qt6-svg-dev libqcustomplot-dev libqcustomplot2.1-qt6
  libsqlite3-dev
  xvfb xauth # GUI tests on machines without a display
)

die() {
  echo "install_deps: error: $*" >&2
  exit 1
}

command -v dpkg-query >/dev/null 2>&1 ||
  die "dpkg-query not found: this script supports Debian 12 (bookworm) only"

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    die "missing packages (${missing[*]}) and not root, and sudo is not available; run as root: apt-get install ${missing[*]}"
  fi
fi

echo "install_deps: installing ${missing[*]}"
log=$(mktemp -t emoe-install-deps.XXXXXX.log)
run_logged() {
  if ! "$@" >>"$log" 2>&1; then
    echo "install_deps: error: '$*' failed; last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
}
export DEBIAN_FRONTEND=noninteractive
run_logged "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
run_logged "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
rm -f "$log"
echo "install_deps: done"
