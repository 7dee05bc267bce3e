"""Benchmark: the seed design vs the project's defaults, hop by hop, in one process run.

    python benchmarks/run.py                 # default size (about a minute for the seed design)
    python benchmarks/run.py --rows 20000    # small (CI)

Builds a sample table of N rows (mixed types, realistic varied text, generated on the server)
in the SQL Server stand-in, then runs the whole chain twice on one local Spark session:

  (a) the seed design (docs: /work/shared/seed/migration-guide.txt): Spark JDBC read with one
      partition (fetchsize 50000), lowercase names + audit columns, written to one Iceberg
      table, then Spark's JDBC writer into StarRocks (MySQL Connector/J,
      rewriteBatchedStatements=true, batchsize 10000);
  (b) the project's defaults: `pipeline.extract` (split extract into the `__raw` landing
      table), `pipeline.to_iceberg` (atomic commit into the Iceberg table) and
      `pipeline.to_starrocks` (Stream Load into a staging table, verified, swapped in);
  (c) the catalog load path (`starrocks.load_path: catalog`): the same steps on the Glue
      catalog (the S3 + Glue stand-in), StarRocks reading the snapshot itself through an Iceberg
      external catalog (`INSERT INTO <staging> SELECT ... FROM <catalog>.<db>.<table>`).

(a) and (b) go through a local Iceberg catalog; all load the same StarRocks table model (the
project's default for a table with a key: PRIMARY KEY). Before anything is timed, every
variant runs once on a small warm-up table, so none pays the JVM's start-up and JIT. For (c)
what matters is the StarRocks hop's CPU on the product's side (Spark JVM, its Python workers,
this driver): the rows are read by the StarRocks stand-in, whose own speed is not StarRocks'.

It prints, per hop and end to end, seconds and rows/s for both and the ratio b/a, next to the
ceilings that bound each hop here, measured in the same run:
  - extract: the SQL Server stand-in's drain rate for a plain `SELECT *` through mssql-jdbc in
    Spark (no-op sink), with as many JDBC partitions as the product's extract uses;
  - starrocks: the StarRocks stand-in's Stream Load rate, posting pre-built JSON bodies of the
    same rows the product sends, with `requests` (the 307 to the BE followed by hand).
Also the CPU seconds every process spent in each hop (Spark JVM, Python workers, each
stand-in, other processes on the machine: the stand-ins and Spark share the machine's
cores), and the peak memory of the Spark driver. Timing never fails the run; a wrong row
count does. The last line is `end-to-end speedup vs seed design: X.Xx`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB = "bench"
TABLE = "orders_bench"
WARMUP_TABLE = "orders_warmup"
DEFAULT_ROWS = 300_000
HOPS = ("extract", "iceberg", "starrocks")
HOP_TITLES = {
    "extract": "extract     SQL Server -> Iceberg (seed: its table; ours: the __raw landing)",
    "iceberg": "iceberg     landing -> Iceberg table commit (ours only; the seed has no such step)",
    "starrocks": "starrocks   Iceberg -> StarRocks (seed: JDBC batch insert; ours: Stream Load; catalog: StarRocks "
                 "reads the snapshot through its external catalog)",
}
CATALOG = "bench_lake"  # the StarRocks external catalog of variant (c)
# CPU groups that are the product's own processes (not a stand-in's, not other processes').
PRODUCT_GROUPS = ("spark JVM", "py workers", "bench driver")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def standin_settings(state_dir: Path, *, start: bool) -> tuple[dict[str, str], dict[str, int]]:
    """The stand-ins' settings and pids: started fresh in `state_dir` when `start`, else those
    already running from it (a benchmark then leaves them running)."""
    from mssql_starrocks_devservers import runtime

    if start:
        log(f"starting the stand-ins (state in {state_dir})")
        settings = runtime.up(state_dir)
    else:
        state = runtime.load_state(state_dir)
        if state is None:
            raise SystemExit(f"no stand-ins were started from {state_dir}")
        settings = runtime.settings(state)
        log(f"using the running stand-ins of {state_dir}")
    return settings, dict((runtime.load_state(state_dir) or {}).get("pids") or {})


# --- the sample table ----------------------------------------------------------------------
def sample_database(settings: dict[str, str], database: str):
    """A connection to `database` on the SQL Server stand-in, created first if missing."""
    import pymssql

    def connect(name):
        return pymssql.connect(server=settings["MSSQL_HOST"], port=str(settings["MSSQL_PORT"]),
                               user=settings["MSSQL_USER"], password=settings["MSSQL_PASSWORD"], database=name,
                               autocommit=True, tds_version="7.4", login_timeout=30)

    conn = connect("master")
    conn.cursor().execute(f"IF DB_ID('{database}') IS NULL CREATE DATABASE [{database}]")
    conn.close()
    return connect(database)


def build_table(settings: dict[str, str], table: str, rows: int) -> None:
    """N rows generated on the server: keys, ints, decimals, floats, bits, dates, datetime2,
    ASCII and Unicode text of varying length (names, e-mails, cities, free-text notes)."""
    conn = sample_database(settings, DB)
    cur = conn.cursor()
    cur.execute(f"IF OBJECT_ID('dbo.{table}') IS NOT NULL DROP TABLE dbo.{table}")
    cur.execute(
        f"CREATE TABLE dbo.{table} (order_id BIGINT NOT NULL PRIMARY KEY, customer_id INT NOT NULL, "
        "customer_name NVARCHAR(100) NOT NULL, email VARCHAR(120) NULL, city NVARCHAR(50) NULL, "
        "status VARCHAR(20) NOT NULL, amount DECIMAL(19,4) NOT NULL, quantity SMALLINT NOT NULL, "
        "discount FLOAT NULL, is_paid BIT NOT NULL, order_date DATE NOT NULL, created_at DATETIME2(6) NOT NULL, "
        "note NVARCHAR(400) NULL)"
    )
    first = ("N'Anna', N'José', N'佐藤', N'John', N'Иван', N'Zoë', N'Mehmet', N'Aiko', N'Lars', N'Priya', "
             "N'Chloé', N'Ngozi', N'Wei', N'Søren'")
    last = ("N'Müller', N'García', N'花子', N'Smith', N'Петров', N'Lee', N'Yılmaz', N'Tanaka', N'Eriksson', "
            "N'Sharma', N'Dubois', N'Okafor', N'Zhang', N'Kierkegaard', N'O''Brien', N'Nováková', N'Rossi'")
    cities = ("N'Berlin', N'東京', N'São Paulo', N'Zürich', N'Lagos', N'Montréal', N'Kraków', N'Mumbai', "
              "N'Reykjavík', N'Austin', NULL")
    opening = ("N'Please leave the parcel', N'Customer asked us to deliver', N'Gift wrap requested; deliver', "
               "N'Second attempt: deliver', N'Fragile items, handle with care and deliver', N'Call before delivery,', "
               "N'Invoice to the company address, deliver'")
    place = ("N'at the back door', N'to the neighbour at no. 12', N'at the reception desk', N'before noon', "
             "N'after 6 pm', N'to the pick-up point', N'in the garage', N'at the side entrance (code 4711)', "
             "N'on the 3rd floor', N'to the concierge', N'next Tuesday'")
    extra = ("N'', N' Thank you!', N' 🙂', N' Bitte nicht klingeln.', N' 置き配希望。', N' Merci beaucoup.', "
             "N' Refund the shipping fee if late.', N' Contains batteries – ship by ground.', "
             "N' Customer is a returning VIP; include a voucher.', N' Звонить заранее.', N' Ring twice.', "
             "N' The previous order (see ticket) arrived damaged, so please double-box this one.', N''")
    cur.execute(
        f"INSERT INTO dbo.{table} SELECT value, CAST((value * 7919) % 50000 AS INT), "
        f"CONCAT(CHOOSE(value % 14 + 1, {first}), N' ', CHOOSE((value / 14) % 17 + 1, {last})), "
        "CASE WHEN value % 9 = 0 THEN NULL ELSE CONCAT('user', (value * 7919) % 50000, '@', "
        "CHOOSE(value % 5 + 1, 'example.com', 'mail.example.org', 'shop.example.net', 'example.co.uk', 'corp.example')) END, "
        f"CHOOSE(value % 11 + 1, {cities}), "
        "CHOOSE(value % 5 + 1, 'new', 'paid', 'shipped', 'delivered', 'cancelled'), "
        "CAST((value * 7919) % 10000000 AS DECIMAL(19,4)) / 100, CAST(value % 20 + 1 AS SMALLINT), "
        "CASE WHEN value % 4 = 0 THEN NULL ELSE CAST(value % 30 AS FLOAT) / 100 END, "
        "CAST(value % 2 AS BIT), DATEADD(DAY, value % 3650, CAST('2015-01-01' AS DATE)), "
        "DATEADD(SECOND, (value * 37) % 315360000, CAST('2015-01-01 08:00:00.123456' AS DATETIME2(6))), "
        "CASE WHEN value % 7 = 0 THEN NULL ELSE "
        f"CONCAT(CHOOSE(value % 7 + 1, {opening}), N' ', CHOOSE((value / 7) % 11 + 1, {place}), N'.', "
        f"CHOOSE((value / 77) % 13 + 1, {extra}), N' Ref #', value) END "
        f"FROM GENERATE_SERIES(CAST(1 AS BIGINT), CAST({int(rows)} AS BIGINT))"
    )
    cur.execute(f"SELECT COUNT_BIG(*) FROM dbo.{table}")
    got = cur.fetchone()[0]
    conn.close()
    if got != rows:
        raise RuntimeError(f"built {got} rows in dbo.{table}, expected {rows}")


# --- CPU and memory accounting ---------------------------------------------------------------
CLK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of its reaped children) of a process."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()  # [11..14] = utime, stime, cutime, cstime
    return (int(fields[11]) + int(fields[12])) / CLK, (int(fields[13]) + int(fields[14])) / CLK


def _descendants(pid: int) -> list[int]:
    """pid and all its live descendants (from /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                todo.extend(int(c) for c in Path(f"/proc/{p}/task/{tid}/children").read_text().split())
            except OSError:
                pass
    return out


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds of a process tree: every live process's own time plus its reaped children's."""
    if not pid:
        return 0.0
    total = 0.0
    for p in _descendants(pid):
        try:
            own, reaped = _stat(p)
        except OSError:
            continue
        total += own + reaped
    return total


def _machine_busy() -> float:
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return (user + nice + system + irq + softirq + steal) / CLK


class CpuMeter:
    """CPU seconds per process group between two points, plus everything else on the machine.

    Python workers are the Spark JVM's descendants (pyspark.daemon and its forks) and the
    processes it already reaped; "other processes" is the machine's busy time minus all of
    this benchmark's processes: on a shared machine it is CPU the benchmark did not get. The
    memory sampler's thread is measurement, not the product: its CPU is left out of "bench
    driver" (which is then the product's own Python: the pipeline's steps and their clients).
    """

    GROUPS = ("spark JVM", "py workers", "mssql stand-in", "starrocks stand-in", "bench driver", "other processes")

    def __init__(self, jvm_pid: int, standin_pids: dict[str, int], sampler: "MemorySampler | None" = None):
        self.jvm_pid = jvm_pid
        self.standins = standin_pids
        self.sampler = sampler

    def sample(self) -> dict[str, float]:
        machine = _machine_busy()
        jvm_own, _ = _stat(self.jvm_pid)
        jvm_tree = _tree_cpu(self.jvm_pid)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        sampling = self.sampler.cpu_s() if self.sampler else 0.0
        return {
            "spark JVM": jvm_own, "py workers": jvm_tree - jvm_own,
            "bench driver": usage.ru_utime + usage.ru_stime - sampling, "_sampling": sampling,
            "mssql stand-in": _tree_cpu(self.standins.get("mssql")),
            "starrocks stand-in": _tree_cpu(self.standins.get("starrocks")),
            "_other_standins": sum(_tree_cpu(pid) for k, pid in self.standins.items()
                                   if k not in ("mssql", "starrocks")),
            "_machine": machine,
        }

    @staticmethod
    def diff(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        d = {k: max(0.0, after[k] - before[k]) for k in before}
        ours = sum(d[k] for k in CpuMeter.GROUPS if k != "other processes") + d["_other_standins"] + d["_sampling"]
        d["other processes"] = max(0.0, d["_machine"] - ours)
        return {k: d[k] for k in CpuMeter.GROUPS}


class MemorySampler:
    """Peak resident memory of the Spark driver JVM (VmHWM, reset per phase through
    /proc/<pid>/clear_refs) and of the JVM plus its Python workers together (sampled)."""

    def __init__(self, jvm_pid: int, period_s: float = 0.25):
        self.jvm_pid = jvm_pid
        self.period_s = period_s
        self._stop = threading.Event()
        self._peak_tree = 0
        self._cpu_s = 0.0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            total = sum(_rss_kib(p) for p in _descendants(self.jvm_pid))
            with self._lock:
                self._peak_tree = max(self._peak_tree, total)
                self._cpu_s = time.thread_time()

    def cpu_s(self) -> float:
        """CPU seconds this sampler's thread has used (so far as its last sample)."""
        with self._lock:
            return self._cpu_s

    def reset(self) -> bool:
        with self._lock:
            self._peak_tree = 0
        try:
            Path(f"/proc/{self.jvm_pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False

    def read(self) -> dict[str, float]:
        with self._lock:
            tree = self._peak_tree
        return {"jvm_hwm_mib": _status_kib(self.jvm_pid, "VmHWM") / 1024, "tree_peak_mib": tree / 1024}

    def stop(self) -> None:
        self._stop.set()


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _rss_kib(pid: int) -> int:
    try:
        return _status_kib(pid, "VmRSS")
    except OSError:
        return 0


# --- Stream Load, by hand (the ceiling) ------------------------------------------------------
def post_stream_load(sr: dict, database: str, table: str, label: str, body: bytes, headers: dict) -> dict:
    """One Stream Load with plain `requests`: PUT to the FE, follow its 307 to the BE by hand
    (requests drops Authorization on a redirect to another port), resend the credentials."""
    import requests

    auth = (sr["user"], sr["password"])
    fe = f"http://{sr['host']}:{sr['http_port']}/api/{database}/{table}/_stream_load"
    hdrs = {"label": label, "Expect": "100-continue", **headers}
    ask = requests.put(fe, data=b"", headers=hdrs, auth=auth, allow_redirects=False, timeout=60)
    if ask.status_code != 307:
        raise RuntimeError(f"FE answered {ask.status_code}: {ask.text[:300]}")
    reply = requests.put(ask.headers["Location"], data=body, headers={"label": label, **headers}, auth=auth,
                         timeout=3600)
    result = reply.json()
    if result.get("Status") != "Success":
        raise RuntimeError(f"Stream Load {label}: {result.get('Status')}: {result.get('Message')}")
    return result


def json_body(batch) -> bytes:
    """Rows as the product encodes them (target.json_rows.rows_json)."""
    from mssql_starrocks.target.json_rows import rows_json

    return rows_json(batch)


def csv_body(batch) -> bytes:
    """The same rows as tab-separated text (\\N = NULL); for comparison only."""
    from mssql_starrocks.target.json_rows import jsonable

    cols = [c.to_pylist() for c in jsonable(batch).columns]
    lines = []
    for row in zip(*cols):
        lines.append("\t".join("\\N" if v is None else ("1" if v is True else "0" if v is False else str(v))
                               for v in row))
    return ("\n".join(lines) + "\n").encode("utf-8")


# --- the run ----------------------------------------------------------------------------------
def timed(fn):
    started = time.monotonic()
    value = fn()
    return value, time.monotonic() - started


def _rate(rows: int, seconds: float | None) -> float | None:
    return rows / seconds if seconds else None


def _fmt(v: float | None, spec: str = ",.0f") -> str:
    return "-" if v is None else format(v, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"rows in the sample table (default {DEFAULT_ROWS:,}: about a minute for the seed "
                             "design on an otherwise idle 2-core machine)")
    parser.add_argument("--warmup-rows", type=int, default=5_000,
                        help="rows of the untimed warm-up run of every variant (0: no warm-up; default 5,000)")
    parser.add_argument("--seed-batchsize", type=int, default=10_000, help="the seed's JDBC batchsize (default 10000)")
    parser.add_argument("--ceiling-rows", type=int, default=100_000,
                        help="rows posted to measure the Stream Load ceiling (default: min(rows, 100,000))")
    parser.add_argument("--csv-ceiling", action="store_true",
                        help="also measure Stream Load with CSV bodies of the same rows (for comparison)")
    parser.add_argument("--master", default="local[*]", help="Spark master (default local[*], the project's)")
    parser.add_argument("--driver-memory", default="1g", help="spark.driver.memory (default 1g, Spark's and the project's)")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="use the stand-ins already running from this devservers state dir (not stopped)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (Iceberg files, logs)")
    args = parser.parse_args()
    if args.rows < 1:
        parser.error("--rows must be positive")

    from mssql_starrocks_devservers import runtime

    work = Path(tempfile.mkdtemp(prefix="msr-bench-"))
    own_standins = args.state_dir is None
    state_dir = (work / "devservers") if own_standins else args.state_dir
    started_all = time.monotonic()
    spark = None
    results: dict = {}
    try:
        settings, standin_pids = standin_settings(state_dir, start=own_standins)
        spark = start_spark(args, work)
        results = run(args, spark, settings, standin_pids, work)
    finally:
        if spark is not None:
            spark.stop()
        if own_standins:
            runtime.down(state_dir)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["wall_s_total"] = time.monotonic() - started_all
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"(whole benchmark: {results['wall_s_total']:.0f}s wall; stand-ins "
          f"{'started and stopped by it' if own_standins else 'left running'})")
    print(f"end-to-end speedup vs seed design: {results['speedup']:.1f}x")
    return 0


def start_spark(args, work: Path):
    from mssql_starrocks.lake import iceberg as ice
    from mssql_starrocks.lib.spark import base_spark_conf, build_session

    catalog = ice.IcebergSettings(catalog_type="local", local_dir=str(work / "iceberg"))
    # The project's session defaults (settings.spark_conf without overrides).
    conf = base_spark_conf(master=args.master, shuffle_partitions=8,
                           extra_conf={"spark.driver.memory": args.driver_memory})
    conf.update(catalog.spark_conf())
    catalog.prepare_local()
    log(f"starting Spark ({args.master})")
    spark = build_session(conf)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run(args, spark, settings: dict[str, str], standin_pids: dict[str, int], work: Path) -> dict:
    from pyspark.sql import functions as F

    from mssql_starrocks.lib import config as cfg
    from mssql_starrocks.lake import iceberg as ice
    from mssql_starrocks.lake import commits
    from mssql_starrocks.lib import pipeline
    from mssql_starrocks.source import extract
    from mssql_starrocks.target import stream_load
    from mssql_starrocks.mapping import schema as sch
    from mssql_starrocks.source.mssql import MssqlClient
    from mssql_starrocks.target.starrocks import StarRocksClient

    n = args.rows
    for table, rows in ((TABLE, n), (WARMUP_TABLE, args.warmup_rows)):
        if rows > 0:
            log(f"building {rows:,} rows in [{DB}].[dbo].[{table}] on the SQL Server stand-in")
            _, build_s = timed(lambda: build_table(settings, table, rows))
            log(f"  built in {build_s:.1f}s")

    catalog = ice.IcebergSettings(catalog_type="local", local_dir=str(work / "iceberg"))
    catalog.attach(spark)
    jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    cores = extract.spark_cores(spark)
    memory = MemorySampler(jvm_pid)
    meter = CpuMeter(jvm_pid, standin_pids, memory)

    mssql, sr = settings_of(settings)
    sr_client = StarRocksClient(sr)
    client = MssqlClient(mssql)
    # The tables file as `mssql-starrocks discover` writes it: the key from the catalog, all else default.
    tables_file = work / "tables.yaml"
    tables_file.write_text(f"version: 1\ndatabase: {DB}\ntables:\n"
                           f"  - {{schema: dbo, name: {TABLE}, key_columns: [order_id]}}\n"
                           f"  - {{schema: dbo, name: {WARMUP_TABLE}, key_columns: [order_id]}}\n")
    main_plan, warmup_plan = cfg.load_plans(tables_file)
    plans = {"main": main_plan, "warmup": warmup_plan}
    plan = plans["main"]
    # (c): the same tables on the Glue catalog, loaded through StarRocks' Iceberg external catalog.
    lake, sr_catalog, catalog_plans = catalog_variant(spark, settings, sr, sr_client, work)
    model = plan.starrocks.model or ("primary_key" if plan.spec.key_columns else "duplicate")

    # --- (a) the seed design, as its guide describes it -------------------------------------
    seed_url = mssql.jdbc_url()
    catalog.ensure_namespace(spark, "seed")

    def seed_extract(table: str):
        """Phases 1-4: JDBC (one partition, fetchsize 50000) -> lowercase names + audit columns -> Iceberg."""
        df = (spark.read.format("jdbc").option("url", seed_url).option("dbtable", f"[dbo].[{table}]")
              .option("user", mssql.user).option("password", mssql.password)
              .option("driver", "com.microsoft.sqlserver.jdbc.SQLServerDriver").option("fetchsize", "50000").load())
        df = df.toDF(*[c.lower() for c in df.columns])
        df = (df.withColumn("_ingested_at", F.current_timestamp())
                .withColumn("_dagster_run_id", F.lit("seed"))
                .withColumn("_source_system", F.lit(mssql.display))
                .withColumn("_source_table", F.lit(f"{DB}.dbo.{table}")))
        df.writeTo(catalog.table_name("seed", table)).using("iceberg").createOrReplace()

    def seed_starrocks(table: str, rows: int):
        """Phase 5: Iceberg -> Spark -> StarRocks by JDBC batch insert (Connector/J, rewriteBatchedStatements)."""
        schema_plan = extract.source_schema(client, plans["main" if table == TABLE else "warmup"])
        sr_client.ensure_database("seed")
        sr_client.drop_table("seed", table)
        sr_client.execute(sch.starrocks_create_table(schema_plan, "seed", table, model=model, buckets=None,
                                                     replication_num=None))
        df = spark.table(catalog.table_name("seed", table))
        df = df.select(*[F.col(c.name) for c in schema_plan.starrocks_order()])
        (df.write.format("jdbc").option("url", sr.jdbc_url("seed")).option("dbtable", table)
         .option("user", sr.user).option("password", sr.password).option("driver", "com.mysql.cj.jdbc.Driver")
         .option("batchsize", str(args.seed_batchsize)).mode("append").save())
        got = sr_client.count("seed", table)
        if got != rows:
            raise RuntimeError(f"seed design: StarRocks seed.{table} holds {got} rows, expected {rows}")

    # --- (b) the project's defaults: the product's own step functions -------------------------
    quiet = (lambda msg: None)

    def ours(p, rows: int, sink: dict | None = None, iceberg=catalog, starrocks=sr):
        run_id = f"bench-{time.time_ns()}"
        out: dict = {}
        steps = {
            "extract": lambda: pipeline.extract(spark, mssql=mssql, iceberg=iceberg, plan=p, run_id=run_id, log=quiet),
            "iceberg": lambda: pipeline.to_iceberg(spark, iceberg=iceberg, plan=p,
                                                   raw_snapshot_id=out["extract"].metadata["raw_snapshot_id"],
                                                   run_id=run_id, log=quiet),
            "starrocks": lambda: pipeline.to_starrocks(spark, iceberg=iceberg, starrocks=starrocks, plan=p,
                                                       run_id=run_id, log=quiet),
        }
        for hop in HOPS:
            out[hop] = measured(steps[hop], sink, hop)
            if sink is not None:
                log(f"  {hop:<9} {sink[hop]['seconds']:6.1f}s  {n / sink[hop]['seconds']:>9,.0f} rows/s")
        got = out["starrocks"].metadata["row_count"]
        if got != rows:
            raise RuntimeError(f"project defaults: StarRocks holds {got} rows, expected {rows}")
        return out

    def measured(fn, sink, key):
        before = meter.sample()
        value, seconds = timed(fn)
        cpu = CpuMeter.diff(before, meter.sample())
        if sink is not None:
            sink[key] = {"seconds": seconds, "cpu": cpu}
        return value

    if args.warmup_rows > 0:
        log(f"warm-up: every variant on {args.warmup_rows:,} rows (not timed: JVM start-up, class loading, JIT)")
        drain_frame(spark, mssql, f"SELECT * FROM [dbo].[{WARMUP_TABLE}]", ()).write.format("noop").mode(
            "overwrite").save()
        seed_extract(WARMUP_TABLE)
        seed_starrocks(WARMUP_TABLE, args.warmup_rows)
        ours(plans["warmup"], args.warmup_rows)
        ours(catalog_plans["warmup"], args.warmup_rows, iceberg=lake, starrocks=sr_catalog)

    # --- ceiling 1: the SQL Server stand-in's drain rate through mssql-jdbc --------------------
    schema_plan = extract.source_schema(client, plan)
    split = extract.plan_extract_splits(spark, client, plan, schema_plan, n)
    ceilings: dict[str, dict] = {}
    drains = [("1 connection", ())]
    if split.count > 1:
        drains.append((f"{split.count} connections", split.predicates))
    for label, preds in drains:
        log(f"ceiling: plain SELECT * through mssql-jdbc into a no-op sink, {label}")
        sink: dict = {}
        measured(lambda: drain_frame(spark, mssql, f"SELECT * FROM [dbo].[{TABLE}]", preds)
                 .write.format("noop").mode("overwrite").save(), sink, "x")
        ceilings[f"drain, {label}"] = {"rows": n, "rows_per_s": n / sink["x"]["seconds"], **sink["x"]}
        log(f"  {n / sink['x']['seconds']:,.0f} rows/s")
    extract_ceiling = ceilings[f"drain, {drains[-1][0]}"]["rows_per_s"]

    # --- (a), (b), (c) --------------------------------------------------------------------------
    measurements: dict[str, dict] = {"seed": {}, "ours": {}, "catalog": {}}
    mem: dict[str, dict] = {}
    memory.reset()
    log(f"(a) seed design on {n:,} rows")
    for hop, fn in (("extract", lambda: seed_extract(TABLE)), ("starrocks", lambda: seed_starrocks(TABLE, n))):
        measured(fn, measurements["seed"], hop)
        log(f"  {hop:<9} {measurements['seed'][hop]['seconds']:6.1f}s  "
            f"{n / measurements['seed'][hop]['seconds']:>9,.0f} rows/s")
    mem["seed"] = memory.read()

    memory.reset()
    log(f"(b) project defaults on {n:,} rows")
    ours_out = ours(plan, n, measurements["ours"])
    mem["ours"] = memory.read()
    loads = ours_out["starrocks"].metadata["loads"]
    extract_meta = ours_out["extract"].metadata

    memory.reset()
    log(f"(c) catalog load path on {n:,} rows (Glue catalog; StarRocks reads through external catalog {CATALOG})")
    catalog_out = ours(catalog_plans["main"], n, measurements["catalog"], iceberg=lake, starrocks=sr_catalog)
    mem["catalog"] = memory.read()
    if catalog_out["starrocks"].metadata["load_path"] != "catalog":
        raise RuntimeError("variant (c) did not load through the catalog")

    # --- ceiling 2: the StarRocks stand-in's Stream Load rate, pre-built bodies ---------------
    iceberg_table = pipeline.iceberg_table(catalog, plan)
    target_plan = commits.table_schema(spark, iceberg_table, plan.source_label)
    k = max(1, min(n, args.ceiling_rows))
    frame = spark.table(iceberg_table)
    arrow_rows = collect_arrow(frame.select(*stream_load._ordered(frame, target_plan)).limit(k))
    per_body = max(1, min(k, -(-n // max(1, loads))))  # as many rows per load as the product sent, at most k
    combined = arrow_rows.combine_chunks()
    columns = [c.name for c in target_plan.starrocks_order()]
    base_headers = {"strict_mode": "true", "max_filter_ratio": "0", "timezone": "UTC",
                    "columns": ", ".join(f"`{c}`" for c in columns)}
    sr_plain = {"host": sr.host, "http_port": sr.http_port, "user": sr.user, "password": sr.password}
    sr_client.ensure_database("ceiling")
    formats = [("json", json_body, {"format": "json", "strip_outer_array": "true"})]
    if args.csv_ceiling:
        formats.append(("csv", csv_body, {"format": "csv", "column_separator": "\\t"}))
    # One at a time with the product's load size, then as many at a time as Spark has task slots.
    layouts = [(1, per_body)] + ([(cores, -(-k // cores))] if cores > 1 and k >= cores else [])
    for fmt, encode, headers in formats:
        for conc, size_rows in layouts:
            bodies = [encode(b) for b in combined.to_batches(max_chunksize=size_rows)]
            size = sum(len(b) for b in bodies)
            name = f"{fmt}_{conc}"
            sr_client.drop_table("ceiling", name)
            sr_client.execute(sch.starrocks_create_table(target_plan, "ceiling", name, model=model, buckets=None,
                                                         replication_num=None))
            log(f"ceiling: Stream Load of pre-built {fmt.upper()} bodies: {k:,} rows in {len(bodies)} bodies of "
                f"<= {size_rows:,} rows ({size / 1e6:.0f} MB), {conc} at a time")

            def post_all(name=name, conc=conc, bodies=bodies, headers=headers):
                with ThreadPoolExecutor(conc) as pool:
                    list(pool.map(lambda ib: post_stream_load(sr_plain, "ceiling", name,
                                                              f"ceil_{name}_{ib[0]}_{time.time_ns()}", ib[1],
                                                              {**base_headers, **headers}), enumerate(bodies)))
            sink = {}
            measured(post_all, sink, "x")
            got = sr_client.count("ceiling", name)
            if got != k:
                raise RuntimeError(f"ceiling load into ceiling.{name}: {got} rows, expected {k}")
            ceilings[f"stream load, {fmt}, {conc} at a time"] = {"rows": k, "rows_per_s": k / sink["x"]["seconds"],
                                                                 **sink["x"]}
            log(f"  {k / sink['x']['seconds']:,.0f} rows/s")
            sr_client.drop_table("ceiling", name)
            del bodies
    load_ceiling = max(v["rows_per_s"] for key, v in ceilings.items() if key.startswith("stream load, json"))
    # What the product's processes burn doing nothing (JVM heartbeats, GC, JIT): a hop that waits
    # longer on a stand-in pays more of it, whatever the product does per row.
    log("idle: the product's processes, 5 s doing nothing")
    before = meter.sample()
    time.sleep(5.0)
    idle = CpuMeter.diff(before, meter.sample())
    idle_cores = sum(idle[g] for g in PRODUCT_GROUPS) / 5.0
    memory.stop()

    # --- report -------------------------------------------------------------------------------
    variants = [v for v in ("seed", "ours", "catalog") if v in measurements]
    secs = {v: {h: measurements[v].get(h, {}).get("seconds") for h in HOPS} for v in variants}
    totals = {v: sum(x for x in secs[v].values() if x) for v in variants}
    hop_ceiling = {"extract": extract_ceiling, "iceberg": None, "starrocks": load_ceiling}
    print()
    print(f"rows: {n:,}   machine: {os.cpu_count()} cores   Spark {args.master} ({cores} task slots), "
          f"driver memory {args.driver_memory}   StarRocks model: {model} (the project's default for a keyed table)")
    print(f"(a) seed: 1 JDBC partition, JDBC insert batchsize {args.seed_batchsize} with rewriteBatchedStatements")
    print(f"(b) ours: {extract_meta['splits']} extract split(s) ({extract_meta['split_method']}), "
          f"{loads} Stream Load(s)")
    print(f"(c) catalog: the same steps on the Glue catalog (S3 + Glue stand-in), StarRocks reading the snapshot "
          f"through its external catalog {CATALOG}")
    print()
    head = (f"{'hop':<11}{'seed s':>8}{'seed rows/s':>13}{'ours s':>8}{'ours rows/s':>13}{'ours/seed':>11}"
            f"{'ceiling rows/s':>16}{'ours/ceiling':>14}{'catalog s':>11}{'catalog rows/s':>16}")
    print(head)
    print("-" * len(head))
    for hop in HOPS:
        a, b, c, d = secs["seed"][hop], secs["ours"][hop], hop_ceiling[hop], secs["catalog"][hop]
        ra, rb = _rate(n, a), _rate(n, b)
        print(f"{hop:<11}{_fmt(a, '.1f'):>8}{_fmt(ra):>13}{b:>8.1f}{rb:>13,.0f}"
              f"{(f'{rb / ra:.1f}x' if ra else '-'):>11}{_fmt(c):>16}{(f'{rb / c:.2f}' if c else '-'):>14}"
              f"{d:>11.1f}{_rate(n, d):>16,.0f}")
    print(f"{'end-to-end':<11}{totals['seed']:>8.1f}{n / totals['seed']:>13,.0f}{totals['ours']:>8.1f}"
          f"{n / totals['ours']:>13,.0f}{totals['seed'] / totals['ours']:>10.1f}x{'':>16}{'':>14}"
          f"{totals['catalog']:>11.1f}{n / totals['catalog']:>16,.0f}")
    best = n / extract_ceiling + n / load_ceiling
    print(f"{'at ceiling':<11}{'':>8}{'':>13}{best:>8.1f}{n / best:>13,.0f}{totals['seed'] / best:>10.1f}x"
          "   <- ours if extract and starrocks ran at their ceilings and the iceberg step took no time")
    verdicts = []
    for hop in ("extract", "starrocks"):
        share = (n / secs["ours"][hop]) / hop_ceiling[hop]
        verdicts.append(f"{hop} at {share:.2f} of its ceiling ({'within' if share >= 0.5 else 'NOT within'} 2x)")
    speedup = totals["seed"] / totals["ours"]
    print(f"issue 5 targets (reported, never enforced): end-to-end {speedup:.1f}x "
          f"({'>=' if speedup >= 3 else 'below'} 3x); " + "; ".join(verdicts))
    product_cpu = {v: sum(measurements[v]["starrocks"]["cpu"][g] for g in PRODUCT_GROUPS) for v in variants}
    ratio = product_cpu["catalog"] / product_cpu["ours"] if product_cpu["ours"] else None
    print("product-side CPU seconds on the StarRocks hop (Spark JVM + Python workers + this driver): "
          + ", ".join(f"{v} {product_cpu[v]:.2f}" for v in variants)
          + (f"; catalog / Stream Load = {ratio:.2f} (issue 14 target, reported, never enforced: under 0.10)"
             if ratio is not None else ""))
    busy_cpu = {v: max(0.0, product_cpu[v] - idle_cores * secs[v]["starrocks"]) for v in variants}
    print(f"  less what the same processes burn idle ({idle_cores:.3f} cores, measured over 5 s, times each hop's "
          "wall time): " + ", ".join(f"{v} {busy_cpu[v]:.2f}" for v in variants)
          + (f"; catalog / Stream Load = {busy_cpu['catalog'] / busy_cpu['ours']:.2f}" if busy_cpu["ours"] else ""))
    print()
    for hop in HOPS:
        print("  " + HOP_TITLES[hop])
    print("  ceiling    extract: plain SELECT * drained through mssql-jdbc into Spark's no-op sink with the "
          f"extract's {split.count} partition(s); starrocks: the best JSON Stream Load rate below")
    print()
    print("ceilings (measured in this run):")
    for key, v in ceilings.items():
        print(f"  {key:<34}{v['rows_per_s']:>10,.0f} rows/s  ({v['rows']:,} rows in {v['seconds']:.1f}s)")
    print()
    print("CPU seconds per step, by process (the stand-ins, Spark and its Python workers share the machine's "
          f"{os.cpu_count()} cores)")
    widths = [max(9, len(g) + 2) for g in CpuMeter.GROUPS]
    print(f"{'':<24}{'wall s':>8}" + "".join(f"{g:>{w}}" for g, w in zip(CpuMeter.GROUPS, widths)))
    lines = [(f"{v} {h}", measurements[v][h]) for v in variants for h in HOPS if h in measurements[v]]
    lines += [(f"ceiling {key.replace('stream load', 'load').replace(' at a time', '')}", v)
              for key, v in ceilings.items()]
    for label, m in lines:
        print(f"{label[:24]:<24}{m['seconds']:>8.1f}" + "".join(f"{m['cpu'][g]:>{w}.1f}"
                                                               for g, w in zip(CpuMeter.GROUPS, widths)))
    busy = {v: sum(m["cpu"]["other processes"] for m in measurements[v].values()) / totals[v] for v in variants}
    print("  other processes = CPU the machine spent on processes outside this benchmark. On average they kept "
          + ", ".join(f"{busy[v]:.2f} cores busy during {v}" for v in variants)
          + f" (of {os.cpu_count()}); well above 0 means a shared machine: slower, noisier timings.")
    print()
    print(f"peak memory of the Spark driver: JVM resident set high-water mark (VmHWM of pid {jvm_pid}, reset "
          f"before each variant; in local mode the executors run inside this JVM): "
          + ", ".join(f"{v} {mem[v]['jvm_hwm_mib']:,.0f} MiB" for v in variants))
    print("  JVM + its Python workers, peak of the summed resident sets (sampled every 0.25s): "
          + ", ".join(f"{v} {mem[v]['tree_peak_mib']:,.0f} MiB" for v in variants)
          + f"; this benchmark's own Python process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    return {
        "rows": n, "cores": os.cpu_count(), "master": args.master, "model": model,
        "seconds": secs, "totals": totals, "ceilings": ceilings, "measurements": measurements, "memory": mem,
        "speedup": totals["seed"] / totals["ours"], "extract_splits": extract_meta["splits"], "stream_loads": loads,
        "other_processes_cores": busy, "speedup_bound_at_ceilings": totals["seed"] / best,
        "product_cpu_starrocks_hop": product_cpu, "product_idle_cores": idle_cores,
    }


def catalog_variant(spark, settings: dict[str, str], sr, sr_client, work: Path):
    """Variant (c): the Glue catalog of the S3 + Glue stand-in registered on the session (the JVM's
    AWS SDK takes the stand-in's keys as system properties, as the tests do), the StarRocks
    external catalog created with the README's DDL, StarRocks settings naming it, and the plans
    of both tables with `load_path: catalog` in their own namespace. Returns (lake, sr, plans)."""
    import dataclasses

    from mssql_starrocks import settings as env_settings
    from mssql_starrocks.lib import config as cfg
    from mssql_starrocks.target.load_paths import catalog as catalog_path

    system = spark.sparkContext._jvm.java.lang.System
    system.setProperty("aws.accessKeyId", settings["AWS_ACCESS_KEY_ID"])
    system.setProperty("aws.secretAccessKey", settings["AWS_SECRET_ACCESS_KEY"])
    lake = env_settings.iceberg_settings({**settings, "ICEBERG_CATALOG_TYPE": "glue",
                                          "ICEBERG_WAREHOUSE": settings["GLUE_WAREHOUSE"],
                                          "ICEBERG_SPARK_CATALOG_NAME": "bench_glue"})
    lake.attach(spark)
    sr_client.execute(f"DROP CATALOG IF EXISTS {CATALOG}")
    sr_client.execute(catalog_path.catalog_ddl(CATALOG, settings["AWS_REGION"]))
    tables_file = work / "tables_catalog.yaml"
    tables_file.write_text(f"version: 1\ndatabase: {DB}\ndefaults:\n  starrocks: {{load_path: catalog}}\ntables:\n"
                           f"  - {{schema: dbo, name: {TABLE}, key_columns: [order_id], namespace: bench_catalog}}\n"
                           f"  - {{schema: dbo, name: {WARMUP_TABLE}, key_columns: [order_id], namespace: bench_catalog}}\n")
    main_plan, warmup_plan = cfg.load_plans(tables_file)
    return lake, dataclasses.replace(sr, iceberg_catalog=CATALOG), {"main": main_plan, "warmup": warmup_plan}


def settings_of(settings: dict[str, str]):
    """(SQL Server settings for the benchmark database, StarRocks settings) from the stand-ins'
    env-file lines, read as the product reads a `.env`."""
    import dataclasses

    from mssql_starrocks.settings import mssql_settings, starrocks_settings

    return dataclasses.replace(mssql_settings(settings), database=DB), starrocks_settings(settings)


def drain_frame(spark, mssql, query: str, predicates):
    options = mssql.jdbc_options(fetch_size=50_000, isolation="read_committed")
    subquery = f"({query}) AS src"
    if predicates:
        props = {k: v for k, v in options.items() if k != "url"}
        return spark.read.jdbc(options["url"], subquery, predicates=list(predicates), properties=props)
    return spark.read.format("jdbc").options(**options).option("dbtable", subquery).load()


def collect_arrow(frame):
    import pyarrow as pa

    try:
        return pa.Table.from_batches(frame._collect_as_arrow())
    except Exception:  # noqa: BLE001 - private API; the public route is slower but equivalent
        return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)


if __name__ == "__main__":
    sys.exit(main())
