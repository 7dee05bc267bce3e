"""The three steps of a table's migration, as plain functions the Dagster assets call.

1. extract: SQL Server -> an Iceberg landing table `<table>__raw`, replaced atomically per run.
   Its snapshot is the run-scoped, immutable landing: the next step reads that snapshot id, so
   re-running it never re-reads SQL Server.
2. to_iceberg: landing snapshot -> the Iceberg table, replaced atomically in one commit whose
   summary records the run id and the source row count.
3. to_starrocks: the Iceberg snapshot -> a fresh StarRocks staging table by parallel Stream
   Loads (one labelled transaction per Spark partition), verified row for row count, then
   swapped with the live table in one atomic `ALTER TABLE ... SWAP WITH`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from mssql_starrocks.lib import iceberg as ice
from mssql_starrocks.lib import schema as sch
from mssql_starrocks.lib import splits
from mssql_starrocks.lib.config import TablePlan
from mssql_starrocks.lib.mssql import MssqlClient, MssqlSettings, SourceError
from mssql_starrocks.lib.names import quote_spark
from mssql_starrocks.lib.starrocks import STAGING_MARK, StarRocksClient, StarRocksSettings, make_label

RAW_SUFFIX = "__raw"
SOURCE_COUNT_KEY = ice.SUMMARY_PREFIX + "source_row_count"
RAW_SNAPSHOT_KEY = ice.SUMMARY_PREFIX + "raw_snapshot_id"

Log = Callable[[str], None]


@dataclass
class StepResult:
    metadata: dict[str, Any]
    schema: sch.TableSchemaPlan | None = None


def raw_table(iceberg: ice.IcebergSettings, plan: TablePlan) -> str:
    return iceberg.table_name(plan.namespace, plan.table + RAW_SUFFIX)


def iceberg_table(iceberg: ice.IcebergSettings, plan: TablePlan) -> str:
    return iceberg.table_name(plan.namespace, plan.table)


def source_schema(client: MssqlClient, plan: TablePlan) -> sch.TableSchemaPlan:
    """The target schema from the live catalog; checks the configured keys exist there."""
    columns = client.columns(plan.source_schema, plan.source_table)
    return sch.build(plan.source_label, columns, key_columns=list(plan.spec.key_columns), rename=dict(plan.spec.rename))


# --- 1. extract ------------------------------------------------------------------------------
def spark_cores(spark) -> int:
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # noqa: BLE001 - Spark Connect has no SparkContext
        return int(spark.conf.get("spark.default.parallelism", "4"))


def plan_extract_splits(spark, client: MssqlClient, plan: TablePlan, schema_plan: sch.TableSchemaPlan,
                        row_count: int) -> splits.SplitPlan:
    types = {c.source_name: (c.source_type or "").split("(")[0].lower() for c in schema_plan.data_columns}
    n = splits.wanted_splits(row_count, spark_cores(spark), plan.extract.num_partitions)
    return splits.plan_splits(client, schema=plan.source_schema, table=plan.source_table,
                              column=plan.spec.partition_column, key_columns=plan.spec.key_columns,
                              column_types=types, row_count=row_count, n=n,
                              explicit=isinstance(plan.extract.num_partitions, int))


def extract(spark, *, mssql: MssqlSettings, iceberg: ice.IcebergSettings, plan: TablePlan, run_id: str,
            log: Log) -> StepResult:
    from pyspark.sql import functions as F

    started = time.monotonic()
    client = MssqlClient(mssql.with_database(plan.database))
    schema_plan = source_schema(client, plan)
    source_count = client.row_count(plan.source_schema, plan.source_table)
    split = plan_extract_splits(spark, client, plan, schema_plan, source_count)
    predicates = list(split.predicates)
    split_column = split.column
    query = schema_plan.extract_sql(plan.source_schema, plan.source_table)
    options = client.settings.jdbc_options(fetch_size=plan.extract.fetch_size, isolation=plan.extract.isolation)
    log(f"{plan.source_label}: extracting {source_count} rows in {split.count} split(s)"
        + (f" on [{split_column}] ({split.method})" if split_column else ""))
    subquery = f"({query}) AS src"
    reader = spark.read.format("jdbc").options(**options)
    if predicates:
        props = {k: v for k, v in options.items() if k != "url"}
        df = spark.read.jdbc(options["url"], subquery, predicates=predicates, properties=props)
    else:
        df = reader.option("dbtable", subquery).load()
    df = df.select(*[F.col(quote_spark(c.name)).cast(c.spark_type).alias(c.name) for c in schema_plan.data_columns])
    df = (df.withColumn("_ingested_at", F.current_timestamp())
            .withColumn("_dagster_run_id", F.lit(run_id))
            .withColumn("_source_system", F.lit(mssql.display))
            .withColumn("_source_table", F.lit(plan.source_label)))

    iceberg.attach(spark)
    iceberg.ensure_namespace(spark, plan.namespace)
    target = raw_table(iceberg, plan)
    (df.writeTo(target).using("iceberg")
       .tableProperty("format-version", "2")
       .tableProperty("write.parquet.compression-codec", "zstd")
       .tableProperty(sch.SCHEMA_PROPERTY, schema_plan.to_property())
       .option("snapshot-property." + ice.RUN_ID_KEY, run_id)
       .option("snapshot-property." + SOURCE_COUNT_KEY, str(source_count))
       .createOrReplace())
    snap = ice.snapshot_of_run(spark, target, run_id)
    elapsed = time.monotonic() - started
    rows = snap["total_records"]
    return StepResult({
        "source_row_count": source_count,
        "row_count": rows,
        "raw_table": target,
        "raw_snapshot_id": snap["snapshot_id"],
        "bytes": snap["total_bytes"],
        "files": snap["total_files"],
        "splits": split.count,
        "split_column": split_column or "",
        "split_method": split.method,
        "duration_s": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed, 1) if elapsed > 0 else 0.0,
        "jdbc_url": client.settings.jdbc_url(),
    }, schema_plan)


# --- 2. Iceberg ------------------------------------------------------------------------------
def to_iceberg(spark, *, iceberg: ice.IcebergSettings, plan: TablePlan, raw_snapshot_id: int, run_id: str,
               log: Log) -> StepResult:
    from pyspark.sql import functions as F

    started = time.monotonic()
    iceberg.attach(spark)
    source = raw_table(iceberg, plan)
    raw_snap = ice.snapshot_by_id(spark, source, raw_snapshot_id)
    schema_plan = table_schema(spark, source, plan)
    df = spark.read.option("snapshot-id", str(raw_snapshot_id)).table(source)
    target = iceberg_table(iceberg, plan)
    source_count = raw_snap["summary"].get(SOURCE_COUNT_KEY, "")
    writer_props = {
        "snapshot-property." + ice.RUN_ID_KEY: run_id,
        "snapshot-property." + SOURCE_COUNT_KEY: source_count,
        "snapshot-property." + RAW_SNAPSHOT_KEY: str(raw_snapshot_id),
    }
    if not ice.table_exists(spark, target):
        log(f"{plan.source_label}: creating Iceberg table {target}")
        iceberg.ensure_namespace(spark, plan.namespace)
        cols = ", ".join(f"{quote_spark(c.name)} {c.spark_type}" for c in schema_plan.columns)
        spark.sql(
            f"CREATE TABLE {target} ({cols}) USING iceberg TBLPROPERTIES ("
            f"'format-version'='2', 'write.parquet.compression-codec'='zstd', "
            f"'write.target-file-size-bytes'='{iceberg.target_file_size_bytes}', "
            f"'{sch.SCHEMA_PROPERTY}'='{_sql_string(schema_plan.to_property())}')"
        )
    else:
        spark.sql(f"ALTER TABLE {target} SET TBLPROPERTIES ('{sch.SCHEMA_PROPERTY}'='{_sql_string(schema_plan.to_property())}')")
    writer = df.writeTo(target)
    for key, value in writer_props.items():
        writer = writer.option(key, value)
    # Full load: every row of the table replaced in one atomic overwrite commit.
    writer.overwrite(F.lit(True))
    snap = ice.snapshot_of_run(spark, target, run_id)
    elapsed = time.monotonic() - started
    return StepResult({
        "row_count": snap["total_records"],
        "raw_row_count": raw_snap["total_records"],
        "iceberg_table": target,
        "snapshot_id": snap["snapshot_id"],
        "table_location": ice.table_location(spark, target) or "",
        "files": snap["total_files"],
        "bytes": snap["total_bytes"],
        "duration_s": round(elapsed, 3),
        "rows_per_s": round(snap["total_records"] / elapsed, 1) if elapsed > 0 else 0.0,
    }, schema_plan)


def table_schema(spark, qualified: str, plan: TablePlan) -> sch.TableSchemaPlan:
    rows = spark.sql(f"SHOW TBLPROPERTIES {qualified} ('{sch.SCHEMA_PROPERTY}')").collect()
    value = rows[0]["value"] if rows else None
    if not value or value.startswith("Table "):
        raise RuntimeError(f"{qualified} has no {sch.SCHEMA_PROPERTY} property; re-run the extract for {plan.source_label}")
    return sch.TableSchemaPlan.from_property(plan.source_label, value)


def _sql_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


# --- 3. StarRocks ----------------------------------------------------------------------------
LOAD_RESULT_SCHEMA = ("partition int, label string, status string, loaded long, filtered long, total long, "
                      "reused boolean, message string")


def _make_loader(settings: StarRocksSettings, database: str, table: str, label_prefix: str,
                 columns: list[str], binary_columns: list[str]):
    """The function each Spark task runs: its rows become one labelled Stream Load."""

    def load_partition(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        from mssql_starrocks.lib.starrocks import StarRocksLoadError, json_chunks, stream_load

        part = TaskContext.get().partitionId()
        label = f"{label_prefix}_p{part}"
        counted = {"n": 0}

        def rows():
            for batch in batches:
                for row in batch.to_pylist():
                    counted["n"] += 1
                    yield row

        try:
            body = json_chunks(rows())
            first = next(body)
            if first == b"[]":
                result, status, message, reused = {}, "Empty", "", False
            else:
                def chained():
                    yield first
                    yield from body

                result = stream_load(settings, database, table, label, chained(), columns=columns, fmt="json")
                status, message, reused = result.get("Status", ""), result.get("Message", ""), bool(result.get("reused"))
        except StarRocksLoadError as exc:
            result, status, message, reused = exc.result, "Fail", str(exc), False
        yield pa.RecordBatch.from_pylist([{
            "partition": part, "label": label, "status": status,
            "loaded": int(result.get("NumberLoadedRows", 0) or 0),
            "filtered": int(result.get("NumberFilteredRows", 0) or 0),
            "total": int(result.get("NumberTotalRows", counted["n"]) or 0),
            "reused": reused, "message": message,
        }], schema=pa.schema([("partition", pa.int32()), ("label", pa.string()), ("status", pa.string()),
                              ("loaded", pa.int64()), ("filtered", pa.int64()), ("total", pa.int64()),
                              ("reused", pa.bool_()), ("message", pa.string())]))

    return load_partition


def to_starrocks(spark, *, iceberg: ice.IcebergSettings, starrocks: StarRocksSettings, plan: TablePlan,
                 run_id: str, log: Log) -> StepResult:
    from pyspark.sql import functions as F

    started = time.monotonic()
    iceberg.attach(spark)
    source = iceberg_table(iceberg, plan)
    snap = ice.current_snapshot(spark, source)
    if snap is None:
        raise RuntimeError(f"{source} has no snapshot yet; materialize the Iceberg asset of {plan.source_label} first")
    schema_plan = table_schema(spark, source, plan)
    client = StarRocksClient(starrocks)
    database, table = plan.namespace, plan.table
    client.ensure_database(database)
    ddl_args = dict(model=plan.starrocks.model, buckets=plan.starrocks.buckets,
                    replication_num=plan.starrocks.replication_num, comment=plan.spec.description)
    staging = f"{table}{STAGING_MARK}{run_id.replace('-', '')[:12]}"
    for leftover in client.tables_like(database, table + STAGING_MARK):
        if leftover != staging:
            log(f"{plan.source_label}: dropping leftover staging table {database}.{leftover} of an earlier run")
            client.drop_table(database, leftover)
    client.drop_table(database, staging)
    client.execute(sch.starrocks_create_table(schema_plan, database, staging, **ddl_args))

    ordered = schema_plan.starrocks_order()
    names_ = [c.name for c in ordered]
    binary = [c.name for c in ordered if c.spark_type == "binary"]
    df = spark.read.option("snapshot-id", str(snap["snapshot_id"])).table(source).select(
        *[F.col(quote_spark(n)) for n in names_])
    label_prefix = make_label("msr", database, table, str(snap["snapshot_id"]), run_id.replace("-", "")[:12])
    loader = _make_loader(starrocks, database, staging, label_prefix, names_, binary)
    results = [r.asDict() for r in df.mapInArrow(loader, LOAD_RESULT_SCHEMA).collect()]
    failed = [r for r in results if r["status"] not in ("Success", "Publish Timeout", "Label Already Exists", "Empty")]
    if failed:
        client.drop_table(database, staging)
        raise StarRocksLoadFailed(plan.source_label, failed, snap["total_records"])
    loaded = client.count(database, staging)
    if loaded != snap["total_records"]:
        client.drop_table(database, staging)
        raise RuntimeError(
            f"{plan.source_label}: StarRocks staging table holds {loaded} rows but Iceberg snapshot "
            f"{snap['snapshot_id']} has {snap['total_records']}; the live table was left unchanged"
        )
    if client.table_exists(database, table):
        client.swap(database, table, staging)
        client.drop_table(database, staging)
    else:
        client.execute(f"ALTER TABLE `{database}`.`{staging}` RENAME `{table}`")
    elapsed = time.monotonic() - started
    return StepResult({
        "row_count": loaded,
        "iceberg_snapshot_id": snap["snapshot_id"],
        "iceberg_row_count": snap["total_records"],
        "starrocks_table": f"{database}.{table}",
        "load_label_prefix": label_prefix,
        "loads": len(results),
        "loaded_rows": sum(r["loaded"] for r in results),
        "filtered_rows": sum(r["filtered"] for r in results),
        "reused_labels": sum(1 for r in results if r["reused"]),
        "model": plan.starrocks.model,
        "duration_s": round(elapsed, 3),
        "rows_per_s": round(loaded / elapsed, 1) if elapsed > 0 else 0.0,
    }, schema_plan)


class StarRocksLoadFailed(RuntimeError):
    def __init__(self, table_label: str, failed: list[dict], expected: int):
        first = failed[0]
        super().__init__(
            f"{table_label}: {len(failed)} Stream Load(s) failed; the live StarRocks table was left unchanged. "
            f"First failure ({first['label']}): {first['message']}"
        )
        self.failed = failed
        self.expected = expected


__all__ = ["extract", "to_iceberg", "to_starrocks", "SourceError", "StarRocksLoadFailed"]
