#!/usr/bin/env bash
# Resume after SIGKILL, N trials (issue 7, must-show 1): run a study once uninterrupted, then N times
# start it on a fresh store and cache, SIGKILL it at a uniformly random moment within the uninterrupted
# run's wall time, resume it, and compare the final store with the uninterrupted one cell for cell
# (scripts/compare_stores.py: every metric bit for bit). Also checks nothing was done twice: cells the
# resumed run computed + cells stored before it = runnable cells.
# Usage: scripts/study_kill_trials.sh [STUDY] [TRIALS]   (QS=path/to/quantscope, default build/src/quantscope)
set -euo pipefail
cd "$(dirname "$0")/.."
QS=${QS:-build/src/quantscope}
STUDY=${1:-studies/tiny.json}
TRIALS=${2:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

start=$(date +%s.%N)
"$QS" study run "$STUDY" --db "$tmp/ref.db" --cache "$tmp/ref.cache" -q > "$tmp/ref.out"
ref_s=$(echo "$(date +%s.%N) - $start" | bc)
runnable=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from cells where status='done'\").fetchone()[0])" "$tmp/ref.db")
echo "study $STUDY: uninterrupted run ${ref_s} s, $runnable computed cells (OMP_NUM_THREADS=$OMP_NUM_THREADS)"
echo "| trial | killed at s | done cells stored before resume | computed by resume | final store |"
echo "|---:|---:|---:|---:|---|"
ok=0
for i in $(seq 1 "$TRIALS"); do
  d="$tmp/t$i"
  mkdir -p "$d"
  delay=$(python3 -c "import random,sys; random.seed($i); print(f'{random.uniform(0.05, 1.0) * float(sys.argv[1]):.2f}')" "$ref_s")
  "$QS" study run "$STUDY" --db "$d/s.db" --cache "$d/cache" -q > /dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  before=0
  [ -f "$d/s.db" ] && before=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from cells where status='done'\").fetchone()[0])" "$d/s.db")
  out=$("$QS" study run "$STUDY" --db "$d/s.db" --cache "$d/cache" -q)
  computed=$(echo "$out" | sed -E 's/.*: ([0-9]+) cells computed.*/\1/')
  verdict=$(python3 scripts/compare_stores.py "$d/s.db" "$tmp/ref.db" | tail -1)
  if [[ "$verdict" == equal* ]] && [ $((before + computed)) -eq "$runnable" ]; then ok=$((ok + 1)); else verdict="MISMATCH: $verdict"; fi
  echo "| $i | $delay | $before | $computed | $verdict |"
  rm -rf "$d"
done
echo
echo "$ok/$TRIALS trials: final store equal to the uninterrupted run, nothing computed twice"
[ "$ok" -eq "$TRIALS" ]
