"""CI smoke test of benchmarks/many_tables.py: a few small tables through `mssql-starrocks run`
end to end. Timing is never asserted (CI machines are shared and noisy); what is asserted is
that every figure is printed and that every table's rows arrived in StarRocks (the script
counts them there and fails on a mismatch; the per-table lines show the counts too).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLES, ROWS = 4, 50  # four tables: one of each shape


@pytest.mark.integration
def test_many_tables_small_run(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "many_tables.py"), "--tables", str(TABLES), "--rows", str(ROWS),
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stdout = proc.stdout
    last = stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"seconds per table: \d+\.\d\d", last), last

    # Every figure is printed: per-step seconds, the run's and the command's wall time, CPU of others.
    for kind in ("raw", "iceberg", "starrocks", "checks", "total"):
        assert re.search(rf"^{kind}\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d", stdout, re.M), kind
    assert re.search(r"run wall time \(RUN_START -> RUN_SUCCESS\): \d+\.\ds", stdout)
    assert re.search(r"total wall time of the command .*: \d+\.\ds", stdout)
    assert re.search(r"other processes took \d+\.\d CPU s", stdout)
    assert "Spark jobs" in stdout and "Glue calls" in stdout
    # Both runs (the default concurrency, 2, then 1) with their per-table figures, the ratio, others' CPU, memory.
    for level in (2, 1):
        assert re.search(rf"^concurrency {level}: run wall \d+\.\ds, \d+\.\d\ds per table \(steps per table: raw "
                         rf"\d+\.\d\ds.*peak memory \d+ MiB; other processes took \d+\.\d CPU s", stdout, re.M), level
    assert re.search(r"^ratio: concurrency 2 is \d+\.\d\dx as fast as concurrency 1", stdout, re.M)
    assert re.search(r"peak resident memory of the run's processes .*: \d+ MiB at concurrency 2", stdout)

    # Every table's chain ran with every check, and its rows are in StarRocks.
    assert re.search(rf"{3 * TABLES} asset\(s\) materialized, (\d+)/\1 check\(s\) passed", stdout)
    assert f"StarRocks: {TABLES}/{TABLES} tables hold {ROWS:,} rows each" in stdout
    result = json.loads(out.read_text())
    assert set(result["runs"]) == {"2", "1"}
    assert all(run["ran"]["checks_passed"] == run["ran"]["checks"] == 5 * TABLES for run in result["runs"].values())
    assert result["starrocks_rows"] == {f"t{i:03d}": ROWS for i in range(1, TABLES + 1)}
    per_table = result["times"]["per_table"]
    assert sorted(per_table) == sorted(result["starrocks_rows"])
    assert all(per_table[t][k] > 0 for t in per_table for k in ("raw", "iceberg", "starrocks", "checks"))
