#!/usr/bin/env python3
"""Compares two quantscope results stores cell for cell: same cell keys, statuses, reasons, and every
metric's value, error, count and protocol bit for bit (floats compared exactly, as stored).
Usage: scripts/compare_stores.py A.db B.db   -> prints 'equal N cells' (exit 0) or the differences (exit 1)."""
import sqlite3
import sys


def load(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    cells = {k: (s, r) for k, s, r in db.execute("SELECT key, status, reason FROM cells")}
    metrics = {}
    for row in db.execute("SELECT cell_key, name, value, error, count, protocol FROM metrics"):
        metrics.setdefault(row[0], []).append(row[1:])
    return {k: (v, sorted(metrics.get(k, []))) for k, v in cells.items()}


a, b = load(sys.argv[1]), load(sys.argv[2])
diffs = [f"only in {sys.argv[1]}: {k}" for k in a.keys() - b.keys()]
diffs += [f"only in {sys.argv[2]}: {k}" for k in b.keys() - a.keys()]
diffs += [f"differs: {k}: {a[k]} vs {b[k]}" for k in a.keys() & b.keys() if a[k] != b[k]]
if diffs:
    print("\n".join(diffs[:20]))
    print(f"{len(diffs)} differences")
    sys.exit(1)
print(f"equal {len(a)} cells")
