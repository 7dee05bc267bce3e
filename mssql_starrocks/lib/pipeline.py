"""The three steps of a table's migration, as plain functions the Dagster assets call.

1. extract: SQL Server -> an Iceberg landing table `<table>__raw`, replaced atomically per run:
   the whole table, or (incremental / change_tracking) only the rows changed since the state
   committed with the Iceberg table. Its snapshot is the run-scoped, immutable landing: the
   next step reads that snapshot id, so re-running it never re-reads SQL Server.
2. to_iceberg: landing snapshot -> the Iceberg table in one commit (atomic overwrite, or MERGE
   by key with deletes) whose summary records the run id, the source row count and the state
   (watermark / change-tracking version) the rows reach.
3. to_starrocks: the Iceberg snapshot -> StarRocks: changed rows as idempotent upserts and
   deletes by key, or a full reload into a staging table swapped in atomically; the table's
   load path moves the rows (target/load_paths: Stream Load from Spark, or StarRocks reading
   the snapshot itself through its Iceberg external catalog).

Schema changes are checked against the targets before anything is read (see evolution).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from mssql_starrocks.lake import commits, state
from mssql_starrocks.lake import iceberg as ice
from mssql_starrocks.lib.config import TablePlan
from mssql_starrocks.mapping import evolution
from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.mapping.names import quote_backtick
from mssql_starrocks.modes import base as modes_base
from mssql_starrocks.source import splits
from mssql_starrocks.source.extract import jdbc_frame, plan_extract_splits, source_schema
from mssql_starrocks.source.mssql import MssqlClient, MssqlSettings
from mssql_starrocks.target import load_paths, stream_load
from mssql_starrocks.target.starrocks import StarRocksClient, StarRocksSettings

RAW_SUFFIX = "__raw"
MAX_LISTED_LOADS = 100

Log = Callable[[str], None]


@dataclass
class StepResult:
    metadata: dict[str, Any]
    schema: sch.TableSchemaPlan | None = None
    # column -> accepts NULL, read back from the table the step wrote (each layer has its own rules)
    nullable: dict[str, bool] | None = None


def raw_table(iceberg: ice.IcebergSettings, plan: TablePlan) -> str:
    return iceberg.table_name(plan.namespace, plan.table + RAW_SUFFIX)


def iceberg_table(iceberg: ice.IcebergSettings, plan: TablePlan) -> str:
    return iceberg.table_name(plan.namespace, plan.table)


# --- 1. extract ------------------------------------------------------------------------------
def _targets_schema(spark, iceberg: ice.IcebergSettings, plan: TablePlan) -> sch.TableSchemaPlan | None:
    target = iceberg_table(iceberg, plan)
    if not ice.table_exists(spark, target):
        return None
    return commits.table_schema(spark, target, plan.source_label)


def extract(spark, *, mssql: MssqlSettings, iceberg: ice.IcebergSettings, plan: TablePlan, run_id: str,
            log: Log, warn: Log | None = None) -> StepResult:
    """SQL Server -> the landing table, replaced atomically; reads only changes in delta modes."""
    from pyspark.sql import functions as F

    started = time.monotonic()
    warn = warn or log
    client = MssqlClient(mssql.with_database(plan.database))
    live = source_schema(client, plan)
    iceberg.attach(spark)
    previous = _targets_schema(spark, iceberg, plan)
    # Refuse incompatible schema changes before anything is read or written.
    change = evolution.diff(previous, live) if previous is not None else None
    if change is not None:
        for line in change.describe():
            warn(f"{plan.source_label}: {line}")
    schema_plan = change.merged if change is not None else live
    mode = plan.mode
    committed = ice.committed_state(spark, iceberg_table(iceberg, plan)) if mode.reads_committed_state else {}
    what = mode.plan_extract(client, plan, schema_plan, committed,
                             schema_changed=bool(change and (change.added or change.widened)))
    source_count = client.row_count(plan.source_schema, plan.source_table)
    change_count = int(client.query(what.count_query)[0][0]) if what.is_delta else None
    if not what.is_delta:
        split = plan_extract_splits(spark, client, plan, schema_plan, source_count)
    else:
        split = splits.SplitPlan(None, (), "none")
    log(f"{plan.source_label}: {what.kind} extract ({what.reason}); table has {source_count} rows; "
        f"{split.count} split(s)" + (f" on [{split.column}] ({split.method})" if split.column else ""))
    df = jdbc_frame(spark, client, plan, what.query, list(split.predicates))
    landed = [F.col(quote_backtick(c.name)).cast(c.spark_type).alias(c.name) for c in schema_plan.data_columns]
    if mode.merges_by_key:
        landed.append(F.col(quote_backtick(state.CHANGE_OP)))
    df = df.select(*landed)
    detecting = mode.detects_deletes(plan, what)
    if detecting:
        df = df.unionByName(_deleted_rows(spark, client, plan, schema_plan, iceberg), allowMissingColumns=True)
    df = (df.withColumn("_ingested_at", F.current_timestamp())
            .withColumn("_dagster_run_id", F.lit(run_id))
            .withColumn("_source_system", F.lit(mssql.display))
            .withColumn("_source_table", F.lit(plan.source_label)))

    iceberg.ensure_namespace(spark, plan.namespace)
    target = raw_table(iceberg, plan)
    summary = {state.RUN_ID: run_id, state.SOURCE_COUNT: str(source_count), **mode.landing_summary(what)}
    if change_count is not None:
        summary[state.CHANGE_COUNT] = str(change_count)
    commits.write_landing(df, target, schema_plan, summary)
    snap = ice.snapshot_of_run(spark, target, run_id)
    detected = 0
    if detecting:
        detected = spark.read.option("snapshot-id", str(snap.snapshot_id)).table(target).where(
            F.col(state.CHANGE_OP) == "D").count()
    elapsed = time.monotonic() - started
    rows = snap.total_records
    return StepResult({
        "source_row_count": source_count,
        "row_count": rows,
        "extract_kind": what.kind,
        "extract_reason": what.reason,
        **({"source_change_count": change_count, "detected_deletes": detected} if change_count is not None else {}),
        **{state.short(k): v for k, v in what.state.items()},
        "raw_table": target,
        "raw_snapshot_id": snap.snapshot_id,
        "bytes": snap.total_bytes,
        "files": snap.total_files,
        "splits": split.count,
        "split_column": split.column or "",
        "split_method": split.method,
        "schema_changes": change.describe() if change is not None else [],
        "duration_s": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed, 1) if elapsed > 0 else 0.0,
        "jdbc_url": client.settings.jdbc_url(),
    }, schema_plan, ice.column_nullability(spark, target))


def _deleted_rows(spark, client: MssqlClient, plan: TablePlan, schema_plan: sch.TableSchemaPlan,
                  iceberg: ice.IcebergSettings):
    """Keys present in the Iceberg table but gone from SQL Server, as delete markers (a full key scan)."""
    from pyspark.sql import functions as F

    keys = list(schema_plan.key_columns)
    source_keys = jdbc_frame(spark, client, plan, modes_base.keys_query(plan, schema_plan), [])
    source_keys = source_keys.select(*[F.col(quote_backtick(k)).cast(schema_plan.column(k).spark_type).alias(k)
                                       for k in keys])
    target_keys = spark.table(iceberg_table(iceberg, plan)).select(*[quote_backtick(k) for k in keys])
    gone = target_keys.join(source_keys, on=keys, how="left_anti")
    return gone.withColumn(state.CHANGE_OP, F.lit("D"))


def landing_snapshot_id(spark, *, iceberg: ice.IcebergSettings, plan: TablePlan) -> int | None:
    """The current snapshot of the table's landing (None before its first extract)."""
    iceberg.attach(spark)
    landing = raw_table(iceberg, plan)
    snap = ice.current_snapshot(spark, landing) if ice.table_exists(spark, landing) else None
    return snap.snapshot_id if snap else None


# --- 2. Iceberg ------------------------------------------------------------------------------
def to_iceberg(spark, *, iceberg: ice.IcebergSettings, plan: TablePlan, raw_snapshot_id: int, run_id: str,
               log: Log) -> StepResult:
    """The landing snapshot -> the Iceberg table: atomic overwrite (full) or MERGE by key (delta),
    in one commit whose summary carries the run id, the source count and the extract's state."""
    started = time.monotonic()
    iceberg.attach(spark)
    source = raw_table(iceberg, plan)
    raw_snap = ice.snapshot_by_id(spark, source, raw_snapshot_id)
    summary = raw_snap.summary
    landed_plan = commits.table_schema(spark, source, plan.source_label)
    target = iceberg_table(iceberg, plan)
    kind = summary.get(state.KIND, state.RUN_FULL)
    props = {
        state.RUN_ID: run_id,
        state.SOURCE_COUNT: summary.get(state.SOURCE_COUNT, ""),
        state.RAW_SNAPSHOT: str(raw_snapshot_id),
        state.KIND: kind,
    }
    for key in state.CARRIED:
        if key in summary:
            props[key] = summary[key]
    created = not ice.table_exists(spark, target)
    if created:
        log(f"{plan.source_label}: creating Iceberg table {target}")
        iceberg.ensure_namespace(spark, plan.namespace)
        commits.create_table(spark, target, landed_plan, target_file_size_bytes=iceberg.target_file_size_bytes)
    else:
        landed_plan = commits.evolve_table(spark, target, landed_plan,
                                           log=lambda stmt: log(f"{plan.source_label}: {stmt}"))
    landed = spark.read.option("snapshot-id", str(raw_snapshot_id)).table(source)
    commits.commit(spark, landed, landed_plan, target, props,
                   how=plan.mode.iceberg_commit(kind, table_created=created))
    snap = ice.snapshot_of_run(spark, target, run_id)
    elapsed = time.monotonic() - started
    return StepResult({
        "row_count": snap.total_records,
        "raw_row_count": raw_snap.total_records,
        "commit_kind": kind,
        "iceberg_table": target,
        "snapshot_id": snap.snapshot_id,
        "table_location": ice.table_location(spark, target) or "",
        "files": snap.total_files,
        "bytes": snap.total_bytes,
        "duration_s": round(elapsed, 3),
        "rows_per_s": round(raw_snap.total_records / elapsed, 1) if elapsed > 0 else 0.0,
        **{state.short(k): v for k, v in props.items() if k in state.SHOWN},
    }, landed_plan, ice.column_nullability(spark, target))


# --- 3. StarRocks ----------------------------------------------------------------------------
def to_starrocks(spark, *, iceberg: ice.IcebergSettings, starrocks: StarRocksSettings, plan: TablePlan,
                 run_id: str, log: Log) -> StepResult:
    """The current Iceberg snapshot -> StarRocks: a delta when possible, else an atomic full reload,
    the rows moved by the table's load path (Stream Load, or StarRocks reading the catalog)."""
    started = time.monotonic()
    iceberg.attach(spark)
    source = iceberg_table(iceberg, plan)
    if not ice.table_exists(spark, source):
        raise RuntimeError(f"{source} does not exist; materialize the Iceberg asset of {plan.source_label} first")
    snap = ice.current_snapshot(spark, source)
    if snap is None:
        raise RuntimeError(f"{source} has no snapshot yet; materialize the Iceberg asset of {plan.source_label} first")
    path = plan.load_path
    load_paths.refuse_unusable([plan], iceberg_catalog_type=iceberg.catalog_type,
                               starrocks_catalog=starrocks.iceberg_catalog)
    schema_plan = commits.table_schema(spark, source, plan.source_label)
    stream_load.check_lengths(spark, source, snap.snapshot_id, schema_plan)
    stream_load.check_key_size(spark, source, snap.snapshot_id, schema_plan, plan.starrocks.model)
    client = StarRocksClient(starrocks)
    database, table = plan.namespace, plan.table
    job = load_paths.LoadJob(spark=spark, client=client, plan=plan, source=source, landing=raw_table(iceberg, plan),
                             landing_name=plan.table + RAW_SUFFIX, snapshot=snap, schema_plan=schema_plan,
                             run_id=run_id, log=log, region=iceberg.aws_region)
    path.preflight(job)  # before anything is written
    client.ensure_database(database)
    deltas = plan.mode.applies_deltas
    records = deltas or path.records_every_load
    loaded_id = stream_load.loaded_snapshot(client, database, table) if records else None
    mode, reason, outcome = state.RUN_FULL, plan.mode.reason_for_full(), None
    if deltas:
        mode, reason, outcome = _try_delta(job, loaded_id)
    if outcome is None:
        outcome = path.full_reload(job)
        mode = state.RUN_FULL
    if records:
        stream_load.record_snapshot(client, database, table, snap.snapshot_id, run_id)
    rows = client.count(database, table)
    elapsed = time.monotonic() - started
    return StepResult({
        "row_count": rows,
        "load_kind": mode,
        "load_reason": reason,
        "load_path": path.name,
        "iceberg_snapshot_id": snap.snapshot_id,
        "iceberg_row_count": snap.total_records,
        # The snapshot a delta started from (absent when StarRocks had none loaded).
        **({"previous_snapshot_id": loaded_id} if loaded_id else {}),
        "starrocks_table": f"{database}.{table}",
        "load_label_prefix": outcome.label_prefix,
        # Each load (Stream Load label, or catalog statement) and StarRocks' own counts.
        "load_labels": [{k: r[k] for k in ("label", "status", "loaded", "filtered", "bytes")}
                        for r in outcome.results[:MAX_LISTED_LOADS]],
        "loads": len(outcome.results),
        "loaded_rows": outcome.loaded,
        "filtered_rows": outcome.filtered,
        "load_bytes": outcome.bytes,
        "reused_labels": outcome.reused,
        "model": plan.starrocks.model,
        "duration_s": round(elapsed, 3),
        "rows_per_s": round(outcome.loaded / elapsed, 1) if elapsed > 0 else 0.0,
    }, schema_plan, client.column_nullability(database, table))


def _try_delta(job: load_paths.LoadJob, loaded_id: int | None):
    """Apply only the changes since the snapshot StarRocks last loaded; (mode, reason, outcome|None)."""
    client, database, table, snap = job.client, job.database, job.table, job.snapshot
    if loaded_id is None or not client.table_exists(database, table):
        return state.RUN_FULL, "first load into StarRocks", None
    if loaded_id == snap.snapshot_id:
        return state.RUN_DELTA, "already at this snapshot", stream_load.LoadOutcome([], "")
    chain = stream_load.delta_chain(job.spark, job.source, loaded_id, snap.snapshot_id)
    if chain is None:
        return state.RUN_FULL, f"snapshot {loaded_id} is not an ancestor of {snap.snapshot_id}", None
    if not chain:
        return state.RUN_DELTA, "no rows changed since the loaded snapshot (only compacted)", stream_load.LoadOutcome([], "")
    if not all(state.is_delta(s.summary) for s in chain):
        return state.RUN_FULL, "a full reload happened in Iceberg since the last load", None
    live_columns = dict(client.columns(database, table))
    schema_plan = job.schema_plan
    known = sch.TableSchemaPlan(schema_plan.table_label,
                                tuple(c for c in schema_plan.columns if c.name in live_columns),
                                schema_plan.key_columns)
    change = evolution.diff(known, schema_plan)
    for stmt in evolution.starrocks_ddl(database, table, change):
        job.log(f"{job.plan.source_label}: {stmt}")
        client.execute(stmt)
        client.wait_schema_change(database, table)
    reason, outcome = job.plan.load_path.apply_delta(job, chain)
    return (state.RUN_DELTA if outcome is not None else state.RUN_FULL), reason, outcome
