#!/usr/bin/env bash
# The main job on the bundled model (stories260K, a real Llama-architecture model trained on
# TinyStories): model info, greedy generation, perplexity on the TinyStories validation text, and
# the paper study grid (methods x bits x targets x tasks) into a results store.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
qs=build/src/quantscope
model=data/stories260K.bin
tok=data/tok512.bin
$qs info $model --tokenizer $tok
echo
echo "== greedy generation (200 positions, as llama2.c run -t 0 -n 200) =="
$qs generate $model --tokenizer $tok --temp 0 -n 200
echo
echo "== perplexity on data/tinystories-valid.txt =="
for protocol in full-window llama.cpp rolling; do
  $qs ppl $model --tokenizer $tok --text data/tinystories-valid.txt --ctx 512 --protocol $protocol
done
echo
echo "== the openPangu study's grid on this model (studies/paper.json; resumable: a re-run does only what is missing) =="
$qs study plan studies/paper.json | tail -1
$qs study run studies/paper.json --db build/paper.db
$qs results query build/paper.db --where "target = 'host' AND metric IN ('ppl', 'kld', 'acc')"
echo
echo "== the report of that study: report/index.html (charts, self-contained), report.md, CSV, JSON =="
$qs report build/paper.db --out report
