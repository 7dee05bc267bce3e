"""CI smoke test of the benchmark: it runs end to end at a small size and ends with the speedup
line. Timing is never asserted (CI machines are shared and noisy); correctness is: the script
verifies the row counts in StarRocks for both variants and fails on a mismatch.

`benchmarks` is in pytest's `testpaths` (pyproject.toml), so `make test` and CI run both.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration  # the benchmark script, in a subprocess, on the stand-ins


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
    # The catalog load path ran (it verifies its row count too) and its product-side CPU is printed.
    assert "(c) catalog: " in proc.stdout and "catalog s" in proc.stdout
    assert re.search(r"product-side CPU seconds on the StarRocks hop .*: seed \d+\.\d\d, ours \d+\.\d\d, "
                     r"catalog \d+\.\d\d; catalog / Stream Load = \d+\.\d\d", proc.stdout), proc.stdout[-3000:]
    assert out.exists()


def test_a_table_bigger_than_the_driver_memory_moves_with_bounded_memory():
    """benchmarks/memory.py at its defaults: 1.5M rows (about 770 MiB as JSON) through a 512 MiB driver."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "memory.py")], cwd=ROOT, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "StarRocks holds 1,500,000" in proc.stdout
    ratio = float(re.search(r"data moved / driver heap: (\d+\.\d)x", proc.stdout).group(1))
    assert ratio > 1.0, proc.stdout[-2000:]
