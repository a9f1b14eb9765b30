#!/usr/bin/env bash
# ci/setup.sh — install the Debian 12 packages mmref builds and tests with.
# Idempotent: asks dpkg what is present and calls apt-get only for what is missing;
# prints nothing when everything is already there. Needs root (or sudo) to install.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkgconf
  libz3-dev z3 cvc5
  librapidcheck-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev liblzma-dev libfmt-dev
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "ci/setup.sh: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "ci/setup.sh: not root and no sudo; install: ${missing[*]}" >&2; exit 2; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
