#!/usr/bin/env bash
# CI's bounded fuzzing (called by .ci/run): installs clang 14 and libFuzzer's runtime if missing, builds
# every fuzz target (scripts/fuzz.sh) and runs each for SECONDS (default 30) from its committed seeds and
# regression inputs. Exit status 1 when any target finds a crash, sanitizer report, leak or timeout.
# The long runs that docs/results/fuzzing.md reports are `scripts/fuzz.sh 600`, outside CI; these short
# ones are recorded in build-fuzz/smoke-runs.tsv and smoke-logs/ so they never replace those rows or logs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh clang-14 libclang-rt-14-dev libomp-14-dev
mkdir -p build-fuzz
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)} FUZZ_RUNS=build-fuzz/smoke-runs.tsv FUZZ_LOGS=build-fuzz/smoke-logs \
  bash scripts/fuzz.sh "${1:-30}"
