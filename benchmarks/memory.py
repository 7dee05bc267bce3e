"""A table bigger than the Spark driver's memory moves with bounded memory.

    python benchmarks/memory.py                           # 1,500,000 rows, spark.driver.memory 512m
    python benchmarks/memory.py --rows 3000000 --driver-memory 1g

Builds the benchmark's sample table (benchmarks/run.py) with N rows in the SQL Server stand-in
and runs the project's three steps (extract, Iceberg commit, StarRocks load) on a local Spark
whose driver (in local mode also the executors) has `--driver-memory` of heap. Every step
streams: the JDBC read is fetched in batches, Iceberg writes file by file, and each Spark task
holds at most two Stream Load bodies (`StarRocksSettings.load_max_bytes`). So the run succeeds
although the rows, as the JSON sent to StarRocks, are larger than the heap; a step that
gathered a table in memory would fail with OutOfMemoryError instead.

It prints the data moved against the heap, the JVM's peak heap use (its memory pools' peak
usage, from JMX) and resident set high-water mark, and exits non-zero unless StarRocks holds
every row and the data moved exceeded the heap (else the run would prove nothing).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import run as bench  # noqa: E402  (the benchmark's table builder and memory probes)

TABLE = "orders_big"
UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    text = text.strip().lower()
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_500_000, help="rows in the table (default 1,500,000)")
    parser.add_argument("--driver-memory", default="512m",
                        help="spark.driver.memory (default 512m; Spark refuses less than about 450m)")
    args = parser.parse_args()

    from mssql_starrocks.lib import config as cfg
    from mssql_starrocks.lake import iceberg as ice
    from mssql_starrocks.lib import pipeline
    from mssql_starrocks.lib.spark import base_spark_conf, build_session
    from mssql_starrocks.target.starrocks import StarRocksClient
    from mssql_starrocks_devservers import runtime

    work = Path(tempfile.mkdtemp(prefix="msr-memory-"))
    spark = None
    try:
        bench.log(f"starting the stand-ins (state in {work / 'devservers'})")
        settings = runtime.up(work / "devservers")
        bench.log(f"building {args.rows:,} rows in [{bench.DB}].[dbo].[{TABLE}]")
        bench.build_table(settings, TABLE, args.rows)
        catalog = ice.IcebergSettings(catalog_type="local", local_dir=str(work / "iceberg"))
        conf = base_spark_conf(master="local[*]", shuffle_partitions=8,
                               extra_conf={"spark.driver.memory": args.driver_memory})
        conf.update(catalog.spark_conf())
        catalog.prepare_local()
        bench.log(f"starting Spark (local[*], spark.driver.memory {args.driver_memory})")
        spark = build_session(conf)
        spark.sparkContext.setLogLevel("ERROR")
        catalog.attach(spark)
        jvm = spark.sparkContext._jvm
        heap_max = int(jvm.java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getMax())
        memory = bench.MemorySampler(int(jvm.java.lang.ProcessHandle.current().pid()))
        memory.reset()

        mssql, sr = bench.settings_of(settings)
        tables_file = work / "tables.yaml"
        tables_file.write_text(f"version: 1\ndatabase: {bench.DB}\ntables:\n"
                               f"  - {{schema: dbo, name: {TABLE}, key_columns: [order_id]}}\n")
        plan = cfg.load_plans(tables_file)[0]
        run_id = f"memory-{time.time_ns()}"
        quiet = (lambda msg: None)
        started = time.monotonic()
        bench.log("extract")
        extracted = pipeline.extract(spark, mssql=mssql, iceberg=catalog, plan=plan, run_id=run_id, log=quiet)
        bench.log("iceberg commit")
        pipeline.to_iceberg(spark, iceberg=catalog, plan=plan, run_id=run_id, log=quiet,
                            raw_snapshot_id=extracted.metadata["raw_snapshot_id"])
        bench.log("starrocks load")
        loaded = pipeline.to_starrocks(spark, iceberg=catalog, starrocks=sr, plan=plan, run_id=run_id, log=quiet)
        seconds = time.monotonic() - started
        peak_heap = sum(int(p.getPeakUsage().getUsed())
                        for p in jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
                        if str(p.getType()) == "Heap memory")
        peaks = memory.read()
        memory.stop()
        in_starrocks = StarRocksClient(sr).count(plan.namespace, plan.table)
    finally:
        if spark is not None:
            spark.stop()
        runtime.down(work / "devservers")
        shutil.rmtree(work, ignore_errors=True)

    moved = loaded.metadata["load_bytes"]
    mib = 1024 * 1024
    print()
    print(f"rows: {args.rows:,} in {seconds:.0f}s; StarRocks holds {in_starrocks:,}")
    print(f"data moved: {moved / mib:,.0f} MiB of rows as Stream Load JSON in {loaded.metadata['loads']} load(s); "
          f"{extracted.metadata['bytes'] / mib:,.0f} MiB as zstd Parquet in Iceberg")
    print(f"Spark driver heap: max {heap_max / mib:,.0f} MiB (spark.driver.memory {args.driver_memory}), "
          f"peak used {peak_heap / mib:,.0f} MiB; JVM resident set high-water mark {peaks['jvm_hwm_mib']:,.0f} MiB")
    print(f"data moved / driver heap: {moved / heap_max:.1f}x")
    if in_starrocks != args.rows:
        print(f"FAILED: StarRocks holds {in_starrocks:,} rows, expected {args.rows:,}")
        return 1
    if moved <= parse_size(args.driver_memory):
        print("FAILED: the data moved is not larger than the driver's memory; use more --rows")
        return 1
    print("bounded memory: a table larger than the Spark driver's memory moved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
