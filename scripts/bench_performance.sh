#!/usr/bin/env bash
# CPU kernels at real size (issue 6): this machine's roofline (`bench --host`), then prefill and decode of
# a SYNTHETIC full-size openPangu-Embedded-1B in bf16, W8 per-channel and W4 g128 (RTN in memory), and of
# the saved W4 g128 model directory (peak RSS against its weight bytes), 2 threads.
# Writes docs/results/performance.md through scripts/make_performance_table.py. Run on a quiet machine:
# every figure is a ratio to the roofline measured in the same run.
# Side by side with llama.cpp (goal 3): the same model exported to GGUF F16 / Q8_0 / Q4_0 by
# `quantscope export --format gguf` runs in `quantscope bench` (Q8_0 / Q4_0 also under `--target
# llamacpp-cpu`: llama.cpp's arithmetic, activations in 8-bit blocks and integer dot products) and, when LLAMA_BENCH names a llama-bench
# binary (built by you from llama.cpp; no build scripts of other projects live here), in llama-bench with
# the same prompt/generation lengths and threads.
# LLAMA_BUILD (optional) says how that binary was built (the cmake line); the report prints it.
# Usage: [LLAMA_BENCH=/path/llama-bench [LLAMA_BUILD='cmake ...'] [QS_PAIR_ROUNDS=3]] scripts/bench_performance.sh [WORKDIR]
#   (~6 GB disk)
set -euo pipefail
cd "$(dirname "$0")/.."
qs=build/src/quantscope
[ -x $qs ] || bash scripts/build.sh
work=${1:-/tmp/quantscope-openpangu-1b}
model=$work/openpangu-embedded-1b-synthetic
threads=${QS_BENCH_THREADS:-2}
prompt=${QS_BENCH_PROMPT:-512}
gen=${QS_BENCH_GEN:-32}
reps=${QS_BENCH_REPS:-3}
mkdir -p "$work/perf"
rm -f "$work/perf/llama-build.txt" "$work/perf/host-end.json"
[ -z "${LLAMA_BUILD:-}" ] || echo "$LLAMA_BUILD" >"$work/perf/llama-build.txt"
[ -f "$model/config.json" ] || $qs synth --arch openpangu-embedded-1b --seed 1 --out "$model"
echo '{"default": {"method": "rtn", "w_bits": 8, "granularity": "channel"}}' >"$work/perf/w8.json"
echo '{"default": {"method": "rtn", "w_bits": 4, "group_size": 128}}' >"$work/perf/w4g128.json"
saved=$work/perf/w4g128-saved
[ -f "$saved/quant_description.json" ] ||
  $qs quantize "$model" --tokenizer data/tok512.bin --recipe "$work/perf/w4g128.json" --out "$saved" -q >/dev/null

echo "host roofline..." >&2
$qs bench --host -t "$threads" --json >"$work/perf/host.json"
run() {  # label, args...
  local label=$1; shift
  echo "bench $label..." >&2
  # --read-probe: the read bandwidth once more right after the model's runs (this VM's moves by 10-25%
  # within minutes), for the same-minutes ratio beside the one against the best roofline figure.
  $qs bench "$@" -p "$prompt" -n "$gen" -r "$reps" -t "$threads" --read-probe --json >"$work/perf/$label.json"
}
run bf16 "$model"
run w8-channel "$model" --recipe "$work/perf/w8.json"
run w4-g128 "$model" --recipe "$work/perf/w4g128.json"
run w4-g128-saved "$saved"
for t in f16 q8_0 q4_0; do
  [ -f "$work/$t.gguf" ] || $qs export --format gguf "$model" --out "$work/$t.gguf" --type $t >/dev/null
  run gguf-$t "$work/$t.gguf"
  # llama.cpp's own numerics (8-bit activation blocks, integer dots: kernels/q8_blocks.h), as llama-bench runs it.
  [ $t = f16 ] || run gguf-$t-llamacpp "$work/$t.gguf" --target llamacpp-cpu
  if [ -n "${LLAMA_BENCH:-}" ]; then
    echo "llama-bench $t..." >&2
        # -d 0,P: prefill from an empty cache (as ours) and decode after P positions (as ours: we decode
    # after the prompt), plus the other two combinations.
    "$LLAMA_BENCH" -m "$work/$t.gguf" -p "$prompt" -n "$gen" -d "0,$prompt" -r "$reps" -t "$threads" -o json \
      >"$work/perf/llama-gguf-$t.json"
  fi
done
# Alternated rounds (goal 3 on a VM whose speed moves by up to 2x within minutes): each round runs
# quantscope (both numerics) and llama-bench on one file back to back, one repetition each, so every
# round's ratio compares runs seconds apart; the table gives each round's ratio and their median.
rounds=${QS_PAIR_ROUNDS:-3}
if [ -n "${LLAMA_BENCH:-}" ] && [ "$rounds" -gt 0 ]; then
  pairs=$work/perf/pairs
  mkdir -p "$pairs"
  rm -f "$pairs"/*.json
  for r in $(seq 1 "$rounds"); do
    for t in f16 q8_0 q4_0; do
      echo "alternated round $r/$rounds $t..." >&2
      $qs bench "$work/$t.gguf" -p "$prompt" -n "$gen" -r 1 -t "$threads" --json >"$pairs/$t-host-$r.json"
      "$LLAMA_BENCH" -m "$work/$t.gguf" -p "$prompt" -n "$gen" -d "0,$prompt" -r 1 -t "$threads" -o json \
        >"$pairs/$t-llama-$r.json"
      [ $t = f16 ] || $qs bench "$work/$t.gguf" --target llamacpp-cpu -p "$prompt" -n "$gen" -r 1 -t "$threads" \
        --json >"$pairs/$t-llamacpp-$r.json"
    done
  done
fi
echo "host roofline again..." >&2  # the table takes each probe's better figure (bandwidth moves on a VM)
$qs bench --host -t "$threads" --json >"$work/perf/host-end.json"
/usr/bin/python3 scripts/make_performance_table.py "$work/perf" >docs/results/performance.md
cat docs/results/performance.md
