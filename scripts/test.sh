#!/usr/bin/env bash
# Builds quantscope and runs the whole test suite (CTest; GoogleTest underneath).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build && ctest --output-on-failure -j"$(nproc)"
