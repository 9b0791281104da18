#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 14, ASan + UBSan + LeakSanitizer) into build-fuzz/ and runs each
# for SECONDS (default 600), one at a time, at the lowest CPU priority.
#
#   scripts/fuzz.sh [SECONDS]              every target
#   FUZZ_TARGETS="gguf recipe" scripts/fuzz.sh 300
#   FUZZ_JOBS=1                            build jobs (default 1: the machine is shared)
#
# Each run starts from the committed seeds (fuzz/corpus/<t>/) and the regression inputs
# (fuzz/regressions/<t>/); new inputs go to build-fuzz/corpus/<t>/, findings (crash-*, leak-*,
# timeout-*, oom-*) to build-fuzz/findings/<t>/, the full log to build-fuzz/logs/<t>.log (FUZZ_LOGS=DIR
# elsewhere). One line per
# run is recorded in build-fuzz/fuzz-runs.tsv, from which scripts/make_fuzzing_table.py writes
# docs/results/fuzzing.md (FUZZ_RUNS=FILE records elsewhere, e.g. a CI smoke run that must not count
# as a measured run). Exit status 1 when any run found something.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-600}
ALL_TARGETS="gguf safetensors safetensors_index llama2c llama2c_tokenizer tokenizer_json recipe sentencepiece hf_config task_jsonl study_spec results_store ascend_v1"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
B=build-fuzz

# Inputs longer than any seed only slow a fuzzer down; these leave room to grow every seed's structure.
max_len() {
  case $1 in
    gguf | tokenizer_json) echo 65536 ;;
    llama2c) echo 32768 ;;
    safetensors | llama2c_tokenizer | sentencepiece) echo 16384 ;;
    safetensors_index | task_jsonl | results_store) echo 8192 ;;
    ascend_v1) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

# Debian 12 packages: the compiler, libFuzzer's runtime, and clang's OpenMP runtime.
for p in clang-14 libclang-rt-14-dev libomp-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    echo "fuzz.sh: needs $p (apt-get install clang-14 libclang-rt-14-dev libomp-14-dev)" >&2
    exit 2
  }
done
if [[ ! -f $B/build.ninja ]]; then
  CC=clang-14 CXX=clang++-14 nice -n 19 cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" \
    -DQUANTSCOPE_FUZZ=ON -DQUANTSCOPE_BUILD_TESTS=OFF -DQUANTSCOPE_BUILD_BENCH=OFF >/dev/null
fi
nice -n 19 ninja -C $B -j"${FUZZ_JOBS:-1}" $(for t in $TARGETS; do echo fuzz/fuzz_$t; done)

# Leaks are findings (LeakSanitizer is on by default with ASan); one OpenMP thread keeps the runtime
# from holding per-thread buffers at exit, which LeakSanitizer would report.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1
commit=$(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD -- src fuzz || echo "+dirty")
found_any=0
LOGS=${FUZZ_LOGS:-$B/logs}
mkdir -p "$LOGS"
for t in $TARGETS; do
  mkdir -p $B/corpus/$t $B/findings/$t fuzz/regressions/$t
  log=$LOGS/$t.log
  before=$(ls $B/findings/$t | wc -l)
  load_start=$(cut -d' ' -f1 /proc/loadavg)
  start=$(date +%s)
  set +e
  nice -n 19 $B/fuzz/fuzz_$t $B/corpus/$t fuzz/corpus/$t fuzz/regressions/$t \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len $t)" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix=$B/findings/$t/ >"$log" 2>&1
  rc=$?
  set -e
  ran=$(($(date +%s) - start))
  load_end=$(cut -d' ' -f1 /proc/loadavg)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  ft=$(grep -ao 'ft: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  findings=$(($(ls $B/findings/$t | wc -l) - before))
  [[ $rc -ne 0 || $findings -ne 0 ]] && found_any=1
  printf '%-18s %5ss  execs %-10s %6s/s  cov %-6s ft %-6s findings %s (rc %s)\n' \
    "$t" "$ran" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$findings" "$rc"
  if [[ $rc -ne 0 ]]; then grep -a -m3 -E '^==[0-9]+==ERROR|runtime error|ALARM|deadly signal|out-of-memory' "$log" || true; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$ran" "${execs:-0}" "${rate:-0}" "${cov:-0}" \
    "${ft:-0}" "$findings" "$rc" "$commit" "$load_start" "$load_end" "$(date -u +%FT%TZ)" >>"${FUZZ_RUNS:-$B/fuzz-runs.tsv}"
done
exit $found_any
