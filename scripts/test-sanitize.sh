#!/usr/bin/env bash
# Builds with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ and runs the suite
# (all but the whole-file perplexity parity tests, which only repeat the same code paths longer).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUANTSCOPE_SANITIZE=ON >/dev/null
ninja -C build-asan -j"$(nproc)"
cd build-asan
# OpenMP's runtime keeps thread-local buffers alive at exit, which LeakSanitizer reports; leaks
# are checked by the fuzzing work with OpenMP off.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"$(nproc)" -E 'ReferencePpl'
