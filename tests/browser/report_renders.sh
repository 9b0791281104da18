#!/usr/bin/env bash
# CTest: runs a small study, writes its report, and checks the page in headless Chromium
# (tests/browser/report_renders.mjs). Exit 77 (CTest: skipped) when Chromium, Node.js or playwright-core
# is missing on this machine; CI installs them (scripts/install-deps.sh), so there it always runs.
#   report_renders.sh QUANTSCOPE_BINARY OUT_DIR
set -euo pipefail
qs=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
for need in "$chromium" "$(command -v node || true)" "$here/../../web/node_modules/playwright-core/package.json"; do
  if [[ -z $need || ! -e $need ]]; then
    echo "skipped: ${need:-node} is missing (scripts/install-deps.sh installs chromium, Node.js and web/node_modules)"
    exit 77
  fi
done
rm -rf "$out"
mkdir -p "$out"
"$qs" study run "$here/report_study.json" --db "$out/study.db" --cache "$out/cache" > "$out/study.log"
"$qs" report "$out/study.db" --out "$out/report"
grep -q "refused by ascend-910b1" "$out/report/report.md"
node "$here/report_renders.mjs" "$out/report/index.html" "$out/report/screenshot.png" \
  "quality-kld/kld" "quality-ppl/ppl" "quality-blimp/acc" pareto sensitivity differences speed
test -s "$out/report/screenshot.png"
