"""Benchmark: the seed design vs the project's defaults, hop by hop, in one process run.

    python benchmarks/run.py --rows 2000000

Builds a sample table of N rows (mixed types, realistic text) in the SQL Server stand-in, then
runs the whole chain twice on the same local Spark session:

  (a) the seed design: one JDBC partition for the extract, Iceberg, then Spark's JDBC batch
      insert into StarRocks (MySQL Connector/J, rewriteBatchedStatements);
  (b) the project's defaults: skew-aware parallel extract, Iceberg, parallel Stream Load.

It prints rows/s per hop for both and the ratio b/a, next to the ceilings that bound each hop
on this machine: the stand-in's own drain rate for a plain SELECT through mssql-jdbc (one
connection, and as many as the extract uses) and the StarRocks stand-in's Stream Load rate.
Also the peak memory of the Spark driver. The last line is the end-to-end speedup.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB = "bench"
TABLE = "orders_bench"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build_table(settings: dict[str, str], rows: int) -> None:
    import pymssql

    conn = pymssql.connect(server=settings["MSSQL_HOST"], port=settings["MSSQL_PORT"], user=settings["MSSQL_USER"],
                           password=settings["MSSQL_PASSWORD"], database="master", autocommit=True, tds_version="7.4")
    cur = conn.cursor()
    cur.execute(f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]")
    conn.close()
    conn = pymssql.connect(server=settings["MSSQL_HOST"], port=settings["MSSQL_PORT"], user=settings["MSSQL_USER"],
                           password=settings["MSSQL_PASSWORD"], database=DB, autocommit=True, tds_version="7.4")
    cur = conn.cursor()
    cur.execute(f"IF OBJECT_ID('dbo.{TABLE}') IS NOT NULL DROP TABLE dbo.{TABLE}")
    cur.execute(
        f"CREATE TABLE dbo.{TABLE} (order_id BIGINT NOT NULL PRIMARY KEY, customer_id INT NOT NULL, "
        "customer_name NVARCHAR(100) NOT NULL, city NVARCHAR(50) NULL, status VARCHAR(20) NOT NULL, "
        "amount DECIMAL(19,4) NOT NULL, quantity SMALLINT NOT NULL, is_paid BIT NOT NULL, "
        "order_date DATE NOT NULL, created_at DATETIME2(6) NOT NULL, note NVARCHAR(400) NULL)"
    )
    # Generated on the server (SQL Server 2022's GENERATE_SERIES): realistic text, skewed keys.
    cur.execute(
        f"INSERT INTO dbo.{TABLE} SELECT value, value % 50000, "
        "CONCAT(N'Customer ', value % 50000, N' ', CHOOSE(value % 5 + 1, N'Müller', N'García', N'佐藤', N'Smith', N'Иванов')), "
        "CHOOSE(value % 4 + 1, N'Berlin', N'東京', N'São Paulo', NULL), "
        "CHOOSE(value % 3 + 1, 'new', 'shipped', 'cancelled'), "
        "CAST((value * 7919) % 1000000 AS DECIMAL(19,4)) / 100, CAST(value % 100 AS SMALLINT), "
        "CAST(value % 2 AS BIT), DATEADD(DAY, value % 3650, CAST('2015-01-01' AS DATE)), "
        "DATEADD(SECOND, value % 86400000, CAST('2020-01-01' AS DATETIME2(6))), "
        "CASE WHEN value % 10 = 0 THEN NULL ELSE REPLICATE(N'lorem ipsum dolor sit amet ', value % 8 + 1) END "
        f"FROM GENERATE_SERIES(CAST(1 AS BIGINT), CAST({int(rows)} AS BIGINT))"
    )
    cur.execute(f"SELECT COUNT_BIG(*) FROM dbo.{TABLE}")
    assert cur.fetchone()[0] == rows
    conn.close()


def driver_peak_mb(spark) -> float:
    """Peak resident memory of the Spark driver JVM (VmHWM), in MiB."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn):
    started = time.monotonic()
    value = fn()
    return value, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in the sample table (default 2,000,000)")
    parser.add_argument("--driver-memory", default="1g", help="spark.driver.memory (default 1g)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    args = parser.parse_args()

    from mssql_starrocks_devservers import runtime

    from mssql_starrocks.lib import config as cfg
    from mssql_starrocks.lib import iceberg as ice
    from mssql_starrocks.lib import pipeline
    from mssql_starrocks.lib.mssql import MssqlClient, MssqlSettings
    from mssql_starrocks.lib.spark import base_spark_conf, build_session
    from mssql_starrocks.lib.starrocks import StarRocksClient, StarRocksSettings, json_chunks, stream_load

    work = Path(tempfile.mkdtemp(prefix="msr-bench-"))
    log(f"starting the stand-ins (state in {work})")
    settings = runtime.up(work / "devservers")
    try:
        log(f"building {args.rows:,} rows in [{DB}].[dbo].[{TABLE}]")
        _, build_s = timed(lambda: build_table(settings, args.rows))
        log(f"built in {build_s:.1f}s")
        spark = build_session(base_spark_conf(master="local[2]", shuffle_partitions=4,
                                              extra_conf={"spark.driver.memory": args.driver_memory}))
        spark.sparkContext.setLogLevel("ERROR")
        mssql = MssqlSettings(host=settings["MSSQL_HOST"], port=int(settings["MSSQL_PORT"]), database=DB,
                              user=settings["MSSQL_USER"], password=settings["MSSQL_PASSWORD"], encrypt=False)
        sr = StarRocksSettings(host=settings["STARROCKS_HOST"], query_port=int(settings["STARROCKS_QUERY_PORT"]),
                               http_port=int(settings["STARROCKS_HTTP_PORT"]), user=settings["STARROCKS_USER"],
                               password=settings["STARROCKS_PASSWORD"])
        catalog = ice.IcebergSettings(catalog_type="local", local_dir=str(work / "iceberg"))
        catalog.attach(spark)
        tables_file = work / "tables.yaml"
        tables_file.write_text(f"database: {DB}\ntables:\n  - {{schema: dbo, name: {TABLE}, key_columns: [order_id],"
                               f" starrocks: {{model: duplicate}}}}\n")
        plan = cfg.load_plans(tables_file)[0]
        client = MssqlClient(mssql)
        schema_plan = pipeline.source_schema(client, plan)
        options = mssql.jdbc_options(fetch_size=50_000, isolation="read_committed")
        n = args.rows
        results: dict[str, dict] = {"rows": n}

        # Ceilings -------------------------------------------------------------------------
        def drain(predicates):
            query = f"({schema_plan.extract_sql('dbo', TABLE)}) AS src"
            if predicates:
                props = {k: v for k, v in options.items() if k != "url"}
                df = spark.read.jdbc(options["url"], query, predicates=list(predicates), properties=props)
            else:
                df = spark.read.format("jdbc").options(**options).option("dbtable", query).load()
            df.write.format("noop").mode("overwrite").save()

        _, drain1 = timed(lambda: drain(()))
        split = pipeline.plan_extract_splits(spark, client, plan, schema_plan, n)
        _, drain_k = timed(lambda: drain(split.predicates))
        log(f"ceiling: plain SELECT through mssql-jdbc: {n / drain1:,.0f} rows/s on 1 connection, "
            f"{n / drain_k:,.0f} rows/s on {split.count}")

        sr_client = StarRocksClient(sr)
        sr_client.ensure_database("bench_ceiling")
        sr_client.execute("DROP TABLE IF EXISTS bench_ceiling.t")
        sr_client.execute("CREATE TABLE bench_ceiling.t (order_id BIGINT, customer_name VARCHAR(300), amount "
                          "DECIMAL(19,4), created_at DATETIME, note VARCHAR(1200)) DUPLICATE KEY(order_id) "
                          "DISTRIBUTED BY HASH(order_id)")
        sample_rows = min(n, 500_000)
        rows = [{"order_id": i, "customer_name": f"Customer {i % 50000} Müller", "amount": f"{(i * 7919) % 1000000 / 100:.4f}",
                 "created_at": "2024-01-01 12:00:00.000000", "note": "lorem ipsum dolor sit amet " * (i % 8 + 1)}
                for i in range(sample_rows)]
        body = b"".join(json_chunks(rows))
        _, sl_s = timed(lambda: stream_load(sr, "bench_ceiling", "t", f"ceiling_{time.time_ns()}", body,
                                            columns=list(rows[0]), fmt="json"))
        log(f"ceiling: Stream Load into the StarRocks stand-in: {sample_rows / sl_s:,.0f} rows/s (one load, "
            f"{len(body) / 1e6:.0f} MB)")
        results["ceilings"] = {"drain_1_conn": n / drain1, f"drain_{split.count}_conn": n / drain_k,
                               "stream_load": sample_rows / sl_s}
        del rows, body

        # (a) seed design -------------------------------------------------------------------
        seed_raw = catalog.table_name(f"{DB}_dbo", "seed__raw")
        seed_ice = catalog.table_name(f"{DB}_dbo", "seed")
        catalog.ensure_namespace(spark, f"{DB}_dbo")

        def seed_extract():
            df = spark.read.format("jdbc").options(**options).option("dbtable", f"[dbo].[{TABLE}]").load()
            df.writeTo(seed_raw).using("iceberg").createOrReplace()

        def seed_iceberg():
            spark.table(seed_raw).writeTo(seed_ice).using("iceberg").createOrReplace()

        def seed_starrocks():
            sr_client.ensure_database("bench_seed")
            sr_client.execute("DROP TABLE IF EXISTS bench_seed.orders")
            ddl_cols = ", ".join(f"`{c.name}` {c.starrocks_type}" for c in schema_plan.data_columns)
            sr_client.execute(f"CREATE TABLE bench_seed.orders ({ddl_cols}) DUPLICATE KEY(order_id) "
                              "DISTRIBUTED BY HASH(order_id)")
            (spark.table(seed_ice).write.format("jdbc")
             .option("url", sr.jdbc_url("bench_seed")).option("dbtable", "orders")
             .option("user", sr.user).option("password", sr.password)
             .option("driver", "com.mysql.cj.jdbc.Driver").option("batchsize", "1000")
             .mode("append").save())
            assert sr_client.count("bench_seed", "orders") == n

        seed = {}
        for hop, fn in (("extract", seed_extract), ("iceberg", seed_iceberg), ("starrocks", seed_starrocks)):
            _, seconds = timed(fn)
            seed[hop] = seconds
            log(f"(a) seed {hop}: {seconds:.1f}s, {n / seconds:,.0f} rows/s")

        # (b) project defaults -------------------------------------------------------------
        ours = {}
        quiet = (lambda msg: None)
        run_id = f"bench-{time.time_ns()}"
        out, ours["extract"] = timed(lambda: pipeline.extract(spark, mssql=mssql, iceberg=catalog, plan=plan,
                                                               run_id=run_id, log=quiet))
        log(f"(b) ours extract: {ours['extract']:.1f}s, {n / ours['extract']:,.0f} rows/s "
            f"({out.metadata['splits']} splits, {out.metadata['split_method']})")
        _, ours["iceberg"] = timed(lambda: pipeline.to_iceberg(
            spark, iceberg=catalog, plan=plan, raw_snapshot_id=out.metadata["raw_snapshot_id"], run_id=run_id,
            log=quiet))
        log(f"(b) ours iceberg: {ours['iceberg']:.1f}s, {n / ours['iceberg']:,.0f} rows/s")
        loaded, ours["starrocks"] = timed(lambda: pipeline.to_starrocks(spark, iceberg=catalog, starrocks=sr,
                                                                        plan=plan, run_id=run_id, log=quiet))
        assert loaded.metadata["row_count"] == n
        log(f"(b) ours starrocks: {ours['starrocks']:.1f}s, {n / ours['starrocks']:,.0f} rows/s")

        peak = driver_peak_mb(spark)
        py_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ceilings = {"extract": n / drain_k, "iceberg": None, "starrocks": sample_rows / sl_s}
        print()
        print(f"rows: {n:,}   spark: local[2], driver memory {args.driver_memory}")
        print(f"{'hop':<11}{'seed rows/s':>14}{'ours rows/s':>14}{'ours/seed':>11}{'ceiling rows/s':>16}{'ours/ceiling':>14}")
        for hop in ("extract", "iceberg", "starrocks"):
            a, b = n / seed[hop], n / ours[hop]
            c = ceilings[hop]
            print(f"{hop:<11}{a:>14,.0f}{b:>14,.0f}{b / a:>10.1f}x{(f'{c:,.0f}' if c else '-'):>16}"
                  f"{(f'{b / c:.2f}' if c else '-'):>14}")
        a_total, b_total = sum(seed.values()), sum(ours.values())
        print(f"{'end-to-end':<11}{n / a_total:>14,.0f}{n / b_total:>14,.0f}{a_total / b_total:>10.1f}x")
        print(f"peak memory: Spark driver JVM {peak:,.0f} MiB, Python driver {py_peak:,.0f} MiB")
        results.update({"seed_seconds": seed, "ours_seconds": ours, "driver_peak_mib": peak,
                        "speedup": a_total / b_total})
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        print(f"end-to-end speedup vs seed design: {a_total / b_total:.1f}x")
        spark.stop()
    finally:
        runtime.down(work / "devservers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
