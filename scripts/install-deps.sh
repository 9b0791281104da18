#!/usr/bin/env bash
# Installs the Debian 12 packages quantscope needs, only those missing (run as root).
#   scripts/install-deps.sh            the build and test dependencies
#   scripts/install-deps.sh P...       these packages instead (e.g. the fuzzing toolchain)
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libfmt-dev nlohmann-json3-dev libcli11-dev libsentencepiece-dev
          libpcre2-dev libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev openmpi-bin libopenmpi-dev)
[ $# -gt 0 ] && packages=("$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
