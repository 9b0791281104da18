#!/usr/bin/env bash
# Runs the default study (studies/paper.json) into build/paper.db (resumable: only missing cells run)
# and writes its report to build/paper-report/; report.md is copied to docs/results/paper-report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
qs=build/src/quantscope
$qs study run studies/paper.json --db build/paper.db --cache build/paper-cache
$qs report build/paper.db --out build/paper-report
cp build/paper-report/report.md docs/results/paper-report.md
echo "wrote docs/results/paper-report.md (charts: build/paper-report/index.html)"
