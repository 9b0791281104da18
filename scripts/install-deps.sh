#!/usr/bin/env bash
# Installs the Debian 12 packages quantscope needs, only those missing (run as root).
#   scripts/install-deps.sh            the build and test dependencies, and the report's npm packages
#                                      (web/package-lock.json: the chart library the build inlines and
#                                      playwright-core, which drives Debian's chromium in the browser test)
#   scripts/install-deps.sh P...       these packages instead (e.g. the fuzzing toolchain)
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libfmt-dev nlohmann-json3-dev libcli11-dev libsentencepiece-dev
          libpcre2-dev libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev openmpi-bin libopenmpi-dev chromium)
# Node.js and npm come with the machine; Debian's are the fallback.
command -v npm >/dev/null || packages+=(nodejs npm)
web_packages=yes
if [ $# -gt 0 ]; then
  packages=("$@")
  web_packages=no
fi
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
if [ $web_packages = yes ]; then
  web=$(cd "$(dirname "$0")/../web" && pwd)
  # npm ci installs exactly what the lock file pins; a copy of the lock file marks what is installed.
  if ! cmp -s "$web/package-lock.json" "$web/node_modules/.installed-lock.json"; then
    echo "installing the report's npm packages (web/package-lock.json)" >&2
    (cd "$web" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$web/package-lock.json" "$web/node_modules/.installed-lock.json"
  fi
fi
