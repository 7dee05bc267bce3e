"""CI smoke test of the benchmark: it runs end to end at a small size and ends with the speedup
line. Timing is never asserted (CI machines are shared and noisy); correctness is: the script
verifies the row counts in StarRocks for both variants and fails on a mismatch.

Runs with `pytest benchmarks/test_benchmark.py` (CI picks it up once `benchmarks` is in
`testpaths` of pyproject.toml, or when this file is called by name).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_small_run(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--rows", "20000", "--warmup-rows", "2000",
         "--ceiling-rows", "20000", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"end-to-end speedup vs seed design: \d+\.\dx", last), last
    for label in ("extract", "iceberg", "starrocks", "end-to-end", "drain, 1 connection",
                  "stream load, json, 1 at a time", "peak memory of the Spark driver"):
        assert label in proc.stdout, label
    assert out.exists()
