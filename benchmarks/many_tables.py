"""Benchmark: many small tables through Dagster, the way a user runs them (issue #13 "hundreds of tables").

    python benchmarks/many_tables.py                         # 100 tables of 1,000 rows
    python benchmarks/many_tables.py --tables 3 --rows 50    # small (CI)

Starts fresh stand-ins (or uses the running ones of --state-dir, as benchmarks/run.py does),
creates N tables of mixed SQL Server types with R rows each (generated on the server, four
shapes in turn: a keyed orders-like table, a composite-key lines table, a keyless log table
with long text and a wide-ish table of exotic types), writes a tables file (keys as
`mssql-starrocks discover` finds them), and runs

    mssql-starrocks --env-file <bench .env> run --select '*'

with a fresh DAGSTER_HOME (the instance `make dagit` uses) and the Glue catalog of the S3 + Glue
stand-in. Then it reads that run's event log from DAGSTER_HOME (DagsterInstance: STEP_START /
STEP_SUCCESS timestamps per step key; the step's asset or check key from its materialization or
check evaluation) and prints, per table, the seconds of each step kind (raw, iceberg, starrocks,
checks = all of the table's asset check steps), their mean/median/max over tables, the gap
between steps (Dagster's own bookkeeping), the run's wall time and the whole command's (Python +
Dagster + Spark start-up included), the CPU seconds the run's processes, the stand-ins and
other processes on the machine took meanwhile (as run.py measures them), and verifies that
every table's rows arrived in StarRocks (a wrong count fails the benchmark; timing never does).

The run is made twice: at `--concurrency` (default: the product's, 2 steps at once in threads of
the run's process sharing its Spark session), then the same build with one step at a time
(`run --concurrency 1`); both are printed with their ratio, the CPU other processes took during
each (on a shared machine the ratio means little without it) and the peak resident memory of the
run's processes. Spark jobs and S3 / Glue requests per step are counted in the second run, whose
steps do not overlap. `--no-compare` makes only the first run.

The last line is `seconds per table: X.XX` (the run's wall time / N).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import (  # noqa: E402
    _descendants, _machine_busy, _rss_kib, _stat, _tree_cpu, log, sample_database, standin_settings,
)

DB = "many"
SCHEMA = "dbo"
DEFAULT_TABLES = 100
DEFAULT_ROWS = 1_000
KINDS = ("raw", "iceberg", "starrocks", "checks")


# --- the tables ------------------------------------------------------------------------------
# Four shapes of mixed types, each filled on the server from GENERATE_SERIES ({rows}).
SHAPES = [
    {   # keyed, orders-like
        "key": ["order_id"],
        "ddl": "CREATE TABLE dbo.{name} (order_id BIGINT NOT NULL PRIMARY KEY, customer_id INT NOT NULL, "
               "customer_name NVARCHAR(100) NOT NULL, email VARCHAR(120) NULL, status VARCHAR(20) NOT NULL, "
               "amount DECIMAL(19,4) NOT NULL, price MONEY NOT NULL, discount FLOAT NULL, is_paid BIT NOT NULL, "
               "order_date DATE NOT NULL, created_at DATETIME2(6) NOT NULL)",
        "insert": "INSERT INTO dbo.{name} SELECT value, CAST((value * 7919) % 50000 AS INT), "
                  "CONCAT(CHOOSE(value % 6 + 1, N'Anna Müller', N'José García', N'佐藤 花子', N'John Smith', "
                  "N'Иван Петров', N'Zoë 😀 Lee'), N' #', value), "
                  "CASE WHEN value % 9 = 0 THEN NULL ELSE CONCAT('user', value, '@example.com') END, "
                  "CHOOSE(value % 5 + 1, 'new', 'paid', 'shipped', 'delivered', 'cancelled'), "
                  "CAST((value * 7919) % 10000000 AS DECIMAL(19,4)) / 100, CAST(value % 5000 AS MONEY) / 7, "
                  "CASE WHEN value % 4 = 0 THEN NULL ELSE CAST(value % 30 AS FLOAT) / 100 END, CAST(value % 2 AS BIT), "
                  "DATEADD(DAY, value % 3650, CAST('2015-01-01' AS DATE)), "
                  "DATEADD(SECOND, (value * 37) % 315360000, CAST('2015-01-01 08:00:00.123456' AS DATETIME2(6))) "
                  "FROM GENERATE_SERIES(CAST(1 AS BIGINT), CAST({rows} AS BIGINT))",
    },
    {   # composite key, lines-like
        "key": ["order_id", "line_no"],
        "ddl": "CREATE TABLE dbo.{name} (order_id BIGINT NOT NULL, line_no SMALLINT NOT NULL, "
               "product_code CHAR(8) NOT NULL, quantity INT NOT NULL, unit_price DECIMAL(10,2) NOT NULL, "
               "discount REAL NULL, qty_small TINYINT NOT NULL, shipped_at DATETIME NULL, "
               "CONSTRAINT pk_{name} PRIMARY KEY (order_id, line_no))",
        "insert": "INSERT INTO dbo.{name} SELECT 100000 + (value + 1) / 2, CAST((value + 1) % 2 + 1 AS SMALLINT), "
                  "CONCAT('P', RIGHT(CONCAT('0000000', value % 977), 7)), value % 9 + 1, "
                  "CAST(value % 5000 AS DECIMAL(10,2)) / 10, "
                  "CASE WHEN value % 4 = 0 THEN NULL ELSE CAST(value % 20 AS REAL) / 100 END, "
                  "CAST(value % 256 AS TINYINT), "
                  "CASE WHEN value % 3 = 0 THEN NULL ELSE DATEADD(MINUTE, value * 7, CAST('2024-01-01' AS DATETIME)) END "
                  "FROM GENERATE_SERIES(1, {rows})",
    },
    {   # no key, log-like, long text
        "key": [],
        "ddl": "CREATE TABLE dbo.{name} (event_id INT NOT NULL, event_time DATETIME NOT NULL, level VARCHAR(10) NOT NULL, "
               "message NVARCHAR(400) NULL, payload NVARCHAR(MAX) NULL)",
        "insert": "INSERT INTO dbo.{name} SELECT value, DATEADD(SECOND, value * 17, CAST('2024-03-01 00:00:00' AS DATETIME)), "
                  "CHOOSE(value % 3 + 1, 'INFO', 'WARN', 'ERROR'), "
                  "CONCAT(N'event ', value, N' – ', CHOOSE(value % 3 + 1, N'ok', N'slow 🐢', N'失败')), "
                  "CASE WHEN value % 10 = 0 THEN REPLICATE(N'{{\"k\": 1}} ', value % 50 + 1) ELSE NULL END "
                  "FROM GENERATE_SERIES(1, {rows})",
    },
    {   # keyed, exotic types (no DATETIMEOFFSET: the stand-in cannot generate one in INSERT ... SELECT)
        "key": ["id"],
        "ddl": "CREATE TABLE dbo.{name} (id INT NOT NULL PRIMARY KEY, guid UNIQUEIDENTIFIER NOT NULL, "
               "t TIME(3) NULL, small_amount SMALLMONEY NULL, ratio NUMERIC(38,10) NULL, blob VARBINARY(64) NULL, "
               "code NCHAR(4) NOT NULL, seen_at SMALLDATETIME NULL, precise_at DATETIME2(7) NULL, big BIGINT NULL)",
        "insert": "INSERT INTO dbo.{name} SELECT value, "
                  "CAST(CONCAT(RIGHT(CONCAT('00000000', value), 8), '-1234-5678-9abc-def012345678') AS UNIQUEIDENTIFIER), "
                  "CASE WHEN value % 5 = 0 THEN NULL ELSE DATEADD(MILLISECOND, value * 1013, CAST('00:00:00' AS TIME(3))) END, "
                  "CAST(value % 2000 AS SMALLMONEY) / 3, CAST(value AS NUMERIC(38,10)) / 7, "
                  "CASE WHEN value % 6 = 0 THEN NULL ELSE CAST(CONCAT('bin', value) AS VARBINARY(64)) END, "
                  "CHOOSE(value % 4 + 1, N'ab', N'ÄÖ', N'日本', N'xyz!'), "
                  "DATEADD(MINUTE, value, CAST('2023-06-01' AS SMALLDATETIME)), "
                  "CASE WHEN value % 7 = 0 THEN NULL ELSE DATEADD(SECOND, value * 11, "
                  "CAST('2024-01-01 12:00:00.1234567' AS DATETIME2(7))) END, "
                  "CASE WHEN value % 8 = 0 THEN NULL ELSE CAST(value AS BIGINT) * 1000003 END "
                  "FROM GENERATE_SERIES(1, {rows})",
    },
]


def table_names(n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"t{i:0{width}d}" for i in range(1, n + 1)]


def build_tables(settings: dict[str, str], names: list[str], rows: int) -> dict[str, list[str]]:
    """Create every table in [DB] on the SQL Server stand-in; returns {name: key columns}."""
    conn = sample_database(settings, DB)
    keys = {}
    try:
        cur = conn.cursor()
        for i, name in enumerate(names):
            shape = SHAPES[i % len(SHAPES)]
            cur.execute(f"IF OBJECT_ID('dbo.{name}') IS NOT NULL DROP TABLE dbo.{name}")
            cur.execute(shape["ddl"].format(name=name))
            cur.execute(shape["insert"].format(name=name, rows=int(rows)))
            cur.execute(f"SELECT COUNT_BIG(*) FROM dbo.{name}")
            got = cur.fetchone()[0]
            if got != rows:
                raise RuntimeError(f"built {got} rows in dbo.{name}, expected {rows}")
            keys[name] = shape["key"]
    finally:
        conn.close()
    return keys


def write_tables_file(path: Path, keys: dict[str, list[str]]) -> None:
    """The tables file as `mssql-starrocks discover` writes it: keys from the catalog, all else default."""
    lines = ["version: 1", f"database: {DB}", "tables:"]
    for name, key in keys.items():
        entry = f"  - {{schema: {SCHEMA}, name: {name}"
        if key:
            entry += f", key_columns: [{', '.join(key)}]"
        lines.append(entry + "}")
    path.write_text("\n".join(lines) + "\n")


# --- CPU of the run's process tree -------------------------------------------------------------
class TreeCpu:
    """CPU seconds of a child process and all its descendants (the CLI, its Spark JVM, Python
    workers): every pid's own CPU time, sampled while they live (the last sample of each pid
    counts), compared with RUSAGE_CHILDREN after the child was reaped (which misses descendants
    it never waited for); the larger of the two is taken."""

    def __init__(self, pid: int, period_s: float = 0.5):
        self.pid = pid
        self.period_s = period_s
        self.seen: dict[int, float] = {}
        self.peak_rss_kib = 0  # the largest resident set of the whole tree at one sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        rss = 0
        for p in _descendants(self.pid):
            try:
                own, _ = _stat(p)
            except OSError:
                continue
            self.seen[p] = max(self.seen.get(p, 0.0), own)
            rss += _rss_kib(p)
        self.peak_rss_kib = max(self.peak_rss_kib, rss)

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.period_s):
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self.seen.values())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the run and its event log -----------------------------------------------------------------
def run_cli(env_file: Path, dagster_home: Path, work: Path, standin_pids: dict[str, int], select: str,
            concurrency: int) -> dict:
    """`mssql-starrocks --env-file ... run --select ... --concurrency N` as a user runs it; timed,
    CPU-metered, and the peak resident memory of its processes (CLI, Spark JVM, Python workers)."""
    cli = Path(sys.executable).with_name("mssql-starrocks")
    command = [str(cli) if cli.exists() else sys.executable, *([] if cli.exists() else ["-m", "mssql_starrocks.cli"]),
               "--env-file", str(env_file), "run", "--select", select, "--concurrency", str(concurrency)]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MSSQL_", "STARROCKS_", "ICEBERG_", "AWS_", "SPARK_", "GLUE_", "DAGSTER_"))}
    env["DAGSTER_HOME"] = str(dagster_home)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    log_path = work / f"run-{concurrency}.log"
    log(f"running: mssql-starrocks --env-file {env_file.name} run --select '{select}' --concurrency {concurrency} "
        f"(DAGSTER_HOME={dagster_home})")
    machine0, self0, children0 = _machine_busy(), _self_cpu(), _children_cpu()
    standins0 = {k: _tree_cpu(pid) for k, pid in standin_pids.items()}
    started = time.monotonic()
    with open(log_path, "w") as out:
        proc = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
        tree = TreeCpu(proc.pid)
        rc = proc.wait()
    wall = time.monotonic() - started
    sampled = tree.stop()
    run_cpu = max(sampled, _children_cpu() - children0)
    standins = {k: max(0.0, _tree_cpu(pid) - standins0[k]) for k, pid in standin_pids.items()}
    bench = _self_cpu() - self0
    machine = _machine_busy() - machine0
    other = max(0.0, machine - run_cpu - sum(standins.values()) - bench)
    output = log_path.read_text(errors="replace")
    if rc != 0:
        raise RuntimeError(f"mssql-starrocks run exited {rc}:\n{output[-4000:]}")
    match = re.search(r"run ([0-9a-f-]{36}): (\d+) asset\(s\) materialized, (\d+)/(\d+) check\(s\) passed", output)
    if not match:
        raise RuntimeError(f"no run summary in the CLI's output:\n{output[-3000:]}")
    return {"run_id": match.group(1), "materialized": int(match.group(2)), "checks_passed": int(match.group(3)),
            "checks": int(match.group(4)), "command_wall_s": wall, "summary": match.group(0),
            "concurrency": concurrency, "peak_rss_mib": tree.peak_rss_kib / 1024,
            "cpu": {"run (CLI + Spark)": run_cpu, **{f"{k} stand-in": v for k, v in standins.items()},
                    "bench driver": bench, "other processes": other, "machine": machine}}


def step_times(dagster_home: Path, run_id: str, plans) -> dict:
    """Per table and step kind, seconds from STEP_START to STEP_SUCCESS, read from the run's event log."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    names = {p.spec.name for p in plans}

    def owner(path) -> tuple[str, str] | None:
        """(table, layer) of an asset key such as raw/<database>/<schema>/<table>."""
        path = list(path)
        if path and path[0] in ("raw", "iceberg", "starrocks") and path[-1] in names:
            return path[-1], path[0]
        return None

    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        if run is None:
            raise RuntimeError(f"run {run_id} is not in {dagster_home}")
        records = instance.all_logs(run_id)
    starts, ends, step_of = {}, {}, {}
    run_start = run_end = None
    for entry in records:
        ev = entry.dagster_event
        if ev is None:
            continue
        kind = ev.event_type
        if kind == dg.DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
            run_end = entry.timestamp
        elif kind == dg.DagsterEventType.STEP_START:
            starts[ev.step_key] = entry.timestamp
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            ends[ev.step_key] = entry.timestamp
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            found = owner(ev.event_specific_data.materialization.asset_key.path)
            if found:
                step_of[ev.step_key] = found
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            found = owner(ev.event_specific_data.asset_check_key.asset_key.path)
            if found:
                step_of[ev.step_key] = (found[0], "checks")
    per_table: dict[str, dict[str, float]] = {p.spec.name: {k: 0.0 for k in KINDS} for p in plans}
    steps_per_kind = {k: 0 for k in KINDS}
    unknown = []
    for step, started in starts.items():
        if step not in ends:
            continue
        if step not in step_of:
            unknown.append(step)
            continue
        table, kind = step_of[step]
        per_table[table][kind] += ends[step] - started
        steps_per_kind[kind] += 1
    step_sum = sum(ends[s] - starts[s] for s in starts if s in ends)
    windows = sorted((starts[s], ends[s], *step_of[s]) for s in starts if s in ends and s in step_of)
    return {"per_table": per_table, "steps": len(starts), "steps_per_kind": steps_per_kind, "unknown": unknown,
            "step_sum_s": step_sum, "run_wall_s": (run_end - run_start) if run_start and run_end else None,
            "windows": windows, "run_start": run_start}


# --- what each step did: Spark jobs, S3 and Glue requests ---------------------------------------
def _step_at(windows, t: float, table: str | None = None, slack: float = 0.0):
    """(table, kind) of the step running at t (epoch s); with `slack`, a window widened by it (the
    stand-in's access log has whole seconds); a step of `table` is preferred."""
    hits = [(tb, kind) for start, end, tb, kind in windows if start - slack <= t <= end + slack]
    if table:
        for hit in hits:
            if hit[0] == table:
                return hit
    return hits[0] if hits else None


def spark_jobs(event_dir: Path, windows) -> dict:
    """Spark jobs and SQL executions per step kind, from the Spark event log of the run."""
    jobs = {k: 0 for k in KINDS}
    sqls = {k: 0 for k in KINDS}
    outside = 0
    sample: dict[tuple[str, str], list[str]] = {}
    for path in sorted(event_dir.glob("*")) if event_dir.exists() else []:
        with open(path, errors="replace") as f:
            for line in f:
                if '"SparkListenerJobStart"' not in line and "SQLExecutionStart" not in line:
                    continue
                ev = json.loads(line)
                if ev["Event"] == "SparkListenerJobStart":
                    t = ev["Submission Time"] / 1000
                    props = ev.get("Properties") or {}
                    stages = ev.get("Stage Infos") or [{}]
                    what = (props.get("spark.job.description") or props.get("callSite.short")
                            or stages[0].get("Stage Name") or "?").replace(str(ROOT) + "/", "")
                    hit = _step_at(windows, t)
                    if hit is None:
                        outside += 1
                        continue
                    jobs[hit[1]] += 1
                    sample.setdefault(hit, []).append(what.splitlines()[0][:70])
                elif ev["Event"].endswith("SparkListenerSQLExecutionStart"):
                    hit = _step_at(windows, ev["time"] / 1000)
                    if hit is not None:
                        sqls[hit[1]] += 1
    return {"jobs": jobs, "sql_executions": sqls, "jobs_outside_steps": outside,
            "sample": {f"{t}/{k}": v for (t, k), v in sample.items()}}


ACCESS = re.compile(r'\[(\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d)\] "(\w+) (\S+) HTTP/[\d.]+" (\d+)')
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def catalog_requests(log_path: Path, offset: int, windows, names: set[str]) -> dict:
    """S3 and Glue requests per step kind, from the S3 + Glue stand-in's access log (Glue: POST /)."""
    import datetime as _dt

    counts = {k: {"glue": 0, "glue 4xx": 0, "s3 GET": 0, "s3 HEAD": 0, "s3 PUT": 0, "s3 DELETE": 0, "s3 other": 0}
              for k in KINDS}
    outside = 0
    if not log_path.exists():
        return {"per_kind": counts, "outside_steps": 0, "available": False}
    with open(log_path, errors="replace") as f:
        f.seek(offset)
        text = f.read()
    for line in ANSI.sub("", text).splitlines():
        m = ACCESS.search(line)
        if not m:
            continue
        stamp, method, path, status = m.groups()
        t = _dt.datetime.strptime(stamp, "%d/%b/%Y %H:%M:%S").timestamp() + 0.5
        table = None
        parts = path.split("/")
        for part in parts:
            base = part.removesuffix("__raw")
            if base in names:
                table = base
                break
        hit = _step_at(windows, t, table, slack=0.5)
        if hit is None:
            outside += 1
            continue
        bucket = counts[hit[1]]
        if method == "POST" and path == "/":
            bucket["glue 4xx" if status.startswith("4") else "glue"] += 1
        else:
            key = f"s3 {method}"
            bucket[key if key in bucket else "s3 other"] += 1
    return {"per_kind": counts, "outside_steps": outside, "available": True}


def starrocks_counts(settings: dict[str, str], plans) -> dict[str, int]:
    from mssql_starrocks.settings import starrocks_settings
    from mssql_starrocks.target.starrocks import StarRocksClient

    client = StarRocksClient(starrocks_settings(settings))
    return {p.spec.name: client.count(p.namespace, p.table) for p in plans}


# --- main ----------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=DEFAULT_TABLES, help=f"tables (default {DEFAULT_TABLES})")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"rows per table (default {DEFAULT_ROWS:,})")
    parser.add_argument("--select", default="*", help="the asset selection passed to `run --select` (default *)")
    parser.add_argument("--catalog", choices=("glue", "local"), default="glue",
                        help="Iceberg catalog: the S3 + Glue stand-in (default) or the local one")
    parser.add_argument("--spark-master", default=None, help="SPARK_MASTER for the run (default: the product's)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="use the stand-ins already running from this devservers state dir (not stopped)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (DAGSTER_HOME, logs)")
    parser.add_argument("--no-trace", action="store_true",
                        help="do not record Spark's event log nor count S3 / Glue requests per step")
    parser.add_argument("--per-table", action="store_true", help="print one line per table (default: only when N <= 20)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="steps a run takes at once, compared with 1 (default 2; the product's default is 1)")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the second run with one step at a time (concurrency 1)")
    args = parser.parse_args()
    if args.tables < 1 or args.rows < 1:
        parser.error("--tables and --rows must be positive")

    from mssql_starrocks.lib import config as cfg
    from mssql_starrocks_devservers import runtime

    work = Path(tempfile.mkdtemp(prefix="msr-many-"))
    own_standins = args.state_dir is None
    state_dir = (work / "devservers") if own_standins else args.state_dir
    started_all = time.monotonic()
    results: dict = {"tables": args.tables, "rows": args.rows}
    try:
        settings, standin_pids = standin_settings(state_dir, start=own_standins)

        names = table_names(args.tables)
        log(f"building {args.tables} tables of {args.rows:,} rows in [{DB}] on the SQL Server stand-in")
        t0 = time.monotonic()
        keys = build_tables(settings, names, args.rows)
        log(f"  built in {time.monotonic() - t0:.1f}s")

        tables_file = work / "tables.yaml"
        write_tables_file(tables_file, keys)
        plans = cfg.load_plans(tables_file)
        # The product's .env: the stand-ins' lines, this database, the tables file, the catalog.
        env_values = {**settings, "MSSQL_DATABASE": DB, cfg.TABLES_FILE_ENV: str(tables_file),
                      "ICEBERG_LOCAL_DIR": str(work / "iceberg"), "MSSQL_STARROCKS_LOCK_DIR": str(work / "locks")}
        if args.catalog == "glue":
            env_values.update({"ICEBERG_CATALOG_TYPE": "glue", "ICEBERG_WAREHOUSE": settings["GLUE_WAREHOUSE"]})
        else:
            env_values["ICEBERG_CATALOG_TYPE"] = "local"
        if args.spark_master:
            env_values["SPARK_MASTER"] = args.spark_master
        spark_events = work / "spark-events"
        if not args.no_trace:  # Spark's event log: the jobs each step ran (a little extra work for the driver)
            spark_events.mkdir()
            env_values["SPARK_CONF_JSON"] = json.dumps({"spark.eventLog.enabled": "true",
                                                        "spark.eventLog.dir": spark_events.as_uri()})
        s3glue_log = state_dir / "logs" / "s3glue.log"
        env_file = work / ".env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env_values.items()))
        os.chmod(env_file, 0o600)
        dagster_home = work / "dagster_home"
        dagster_home.mkdir()
        shutil.copyfile(ROOT / "scripts" / "dagster.yaml", dagster_home / "dagster.yaml")  # as `make dagit` does

        # The run at the chosen concurrency first (it also creates the tables: the harder case),
        # then the same build one step at a time; Spark jobs and S3 / Glue requests are counted
        # in the run whose steps do not overlap, so each is attributed to its step exactly.
        levels = [args.concurrency] + ([] if args.no_compare or args.concurrency == 1 else [1])
        runs = {}
        for level in levels:
            offset = s3glue_log.stat().st_size if s3glue_log.exists() else 0
            ran = run_cli(env_file, dagster_home, work, standin_pids, args.select, level)
            log(ran["summary"])
            times = step_times(dagster_home, ran["run_id"], plans)
            counts = starrocks_counts(settings, plans)
            wrong = {t: n for t, n in counts.items() if n != args.rows}
            if wrong:
                raise RuntimeError(f"StarRocks row counts differ from {args.rows} after the run at concurrency "
                                   f"{level}: {wrong}")
            runs[level] = {"ran": ran, "times": times, "s3glue_offset": offset}
        traced = runs[levels[-1]]
        trace = None
        if not args.no_trace:
            trace = {"spark": spark_jobs(spark_events, traced["times"]["windows"]),
                     "catalog": catalog_requests(s3glue_log, traced["s3glue_offset"], traced["times"]["windows"],
                                                 set(names)),
                     "concurrency": levels[-1]}
            results["trace"] = trace
        main_run = runs[args.concurrency]
        ran, times = main_run["ran"], main_run["times"]
        results.update(ran=ran, times=times, starrocks_rows=counts,
                       runs={str(k): {"ran": v["ran"], "per_table": v["times"]["per_table"],
                                      "run_wall_s": v["times"]["run_wall_s"]} for k, v in runs.items()})
        report(args, ran, times, counts, env_values, trace)
        compare(args, runs)
    finally:
        if own_standins:
            runtime.down(state_dir)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    results["benchmark_wall_s"] = time.monotonic() - started_all
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"(whole benchmark: {results['benchmark_wall_s']:.0f}s wall; stand-ins "
          f"{'started and stopped by it' if own_standins else 'left running'})")
    run_wall = times["run_wall_s"] or ran["command_wall_s"]
    print(f"seconds per table: {run_wall / args.tables:.2f}")
    return 0


def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.mean(values):7.2f} {statistics.median(values):7.2f} {max(values):7.2f}"


def report(args, ran: dict, times: dict, counts: dict, env_values: dict, trace: dict | None) -> None:
    n = args.tables
    per_table = times["per_table"]
    print()
    print(f"tables: {n}   rows per table: {args.rows:,}   machine: {os.cpu_count()} cores   "
          f"catalog: {env_values['ICEBERG_CATALOG_TYPE']}   Spark: {env_values.get('SPARK_MASTER', 'local[*]')}")
    print(f"run {ran['run_id']}: {ran['materialized']} asset(s) materialized, "
          f"{ran['checks_passed']}/{ran['checks']} check(s) passed, {times['steps']} steps "
          f"({', '.join(f'{k} {v}' for k, v in times['steps_per_kind'].items())})")
    if times["unknown"]:
        print(f"steps not attributed to a table: {', '.join(times['unknown'])}")
    if args.per_table or n <= 20:
        print()
        print(f"{'table':<10}" + "".join(f"{k + ' s':>12}" for k in KINDS) + f"{'total s':>12}{'StarRocks rows':>16}")
        for name, secs in per_table.items():
            print(f"{name:<10}" + "".join(f"{secs[k]:12.2f}" for k in KINDS) + f"{sum(secs.values()):12.2f}"
                  f"{counts.get(name, 0):>16,}")
    print()
    print("per-step seconds per table (from the run's event log: STEP_START -> STEP_SUCCESS)")
    print(f"{'step':<10}{'mean':>8}{'median':>8}{'max':>8}{'sum':>10}{'share':>8}")
    step_sum = times["step_sum_s"] or 1.0
    for k in (*KINDS, "total"):
        values = [sum(s.values()) if k == "total" else s[k] for s in per_table.values()]
        print(f"{k:<10}{_stats(values)}{sum(values):10.1f}{100 * sum(values) / step_sum:7.0f}%")
    if n > 1:
        rest = [sum(s.values()) for s in list(per_table.values())[1:]]
        first = sum(next(iter(per_table.values())).values())
        print(f"the first table took {first:.1f}s in steps (Spark start-up, class loading, JIT, first catalog and "
              f"StarRocks connections); the others {statistics.mean(rest):.2f}s each on average")
    if trace:
        print()
        print("per table, what each step did (Spark event log; S3 + Glue stand-in access log)")
        head = f"{'step':<10}{'Spark jobs':>11}{'SQL execs':>10}{'Glue calls':>11}{'Glue 4xx':>9}{'S3 GET':>8}" \
               f"{'S3 HEAD':>8}{'S3 PUT':>8}{'S3 DEL':>8}"
        print(head)
        for k in KINDS:
            c = trace["catalog"]["per_kind"][k]
            print(f"{k:<10}{trace['spark']['jobs'][k] / n:11.1f}{trace['spark']['sql_executions'][k] / n:10.1f}"
                  f"{c['glue'] / n:11.1f}{c['glue 4xx'] / n:9.1f}{c['s3 GET'] / n:8.1f}{c['s3 HEAD'] / n:8.1f}"
                  f"{c['s3 PUT'] / n:8.1f}{c['s3 DELETE'] / n:8.1f}")
        sample_table = list(per_table)[1 if n > 1 else 0]
        for k in KINDS:
            jobs = trace["spark"]["sample"].get(f"{sample_table}/{k}", [])
            if jobs:
                print(f"  {sample_table} {k} Spark jobs: " + "; ".join(jobs))
    run_wall = times["run_wall_s"]
    print()
    if run_wall:
        if times["step_sum_s"] <= run_wall:
            print(f"run wall time (RUN_START -> RUN_SUCCESS): {run_wall:.1f}s; in steps {times['step_sum_s']:.1f}s, "
                  f"between steps (Dagster bookkeeping) {run_wall - times['step_sum_s']:.1f}s")
        else:
            print(f"run wall time (RUN_START -> RUN_SUCCESS): {run_wall:.1f}s; in steps {times['step_sum_s']:.1f}s "
                  f"(steps overlapped, up to {ran['concurrency']} at once)")
    loaded = sorted(end for _, end, _, kind in times["windows"] if kind == "starrocks")
    if loaded and times.get("run_start"):
        print(f"first table in StarRocks {loaded[0] - times['run_start']:.1f}s into the run, last "
              f"{loaded[-1] - times['run_start']:.1f}s (Dagster runs the steps layer by layer: every raw, their "
              "checks, every iceberg, ...)")
    print(f"total wall time of the command (Python, definitions, Spark start-up, run): {ran['command_wall_s']:.1f}s")
    cpu = ran["cpu"]
    print("CPU seconds meanwhile: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items() if k != "machine")
          + f" (machine busy {cpu['machine']:.1f} of {ran['command_wall_s'] * (os.cpu_count() or 1):.0f} available)")
    print(f"other processes took {cpu['other processes']:.1f} CPU s "
          f"({100 * cpu['other processes'] / max(1e-9, ran['command_wall_s'] * (os.cpu_count() or 1)):.0f}% "
          "of the machine): CPU this benchmark did not get")
    arrived = sum(1 for v in counts.values() if v == args.rows)
    print(f"StarRocks: {arrived}/{n} tables hold {args.rows:,} rows each")
    print(f"peak resident memory of the run's processes (CLI, Spark JVM, Python workers): {ran['peak_rss_mib']:.0f} MiB "
          f"at concurrency {ran['concurrency']}")


def _run_line(level: int, entry: dict, n: int) -> str:
    ran, times = entry["ran"], entry["times"]
    wall = times["run_wall_s"] or ran["command_wall_s"]
    per_kind = {k: statistics.mean(s[k] for s in times["per_table"].values()) for k in KINDS}
    cpu = ran["cpu"]
    available = max(1e-9, ran["command_wall_s"] * (os.cpu_count() or 1))
    return (f"concurrency {level}: run wall {wall:.1f}s, {wall / n:.2f}s per table (steps per table: "
            + ", ".join(f"{k} {v:.2f}s" for k, v in per_kind.items())
            + f"); peak memory {ran['peak_rss_mib']:.0f} MiB; other processes took {cpu['other processes']:.1f} CPU s "
            f"({100 * cpu['other processes'] / available:.0f}% of the machine)")


def compare(args, runs: dict) -> None:
    """Both runs' figures and their ratio (wall time at concurrency 1 / at the chosen one)."""
    print()
    for level, entry in runs.items():
        print(_run_line(level, entry, args.tables))
    if len(runs) > 1:
        one, many = (runs[1]["times"]["run_wall_s"] or runs[1]["ran"]["command_wall_s"],
                     runs[args.concurrency]["times"]["run_wall_s"] or runs[args.concurrency]["ran"]["command_wall_s"])
        print(f"ratio: concurrency {args.concurrency} is {one / max(1e-9, many):.2f}x as fast as concurrency 1 "
              "(timings on a shared machine are noisy: compare the other processes' CPU of both runs)")
    else:
        print("ratio: not measured (--no-compare or --concurrency 1)")


if __name__ == "__main__":
    sys.exit(main())
