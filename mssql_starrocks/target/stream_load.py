"""Moving an Iceberg snapshot into StarRocks: full reloads and exactly-once deltas.

Full reload: the snapshot is Stream Loaded (labelled transactions of up to
`StarRocksSettings.load_max_bytes` of JSON each, the Spark partitions in parallel) into a
fresh staging table, the staging table's row count is checked against the snapshot, and
`ALTER TABLE ... SWAP WITH` replaces the live table atomically. A failure at any point leaves
the live table as it was; a leftover staging table is dropped by the next run.

Delta (incremental / change_tracking tables, PRIMARY KEY model): the rows that changed
between the Iceberg snapshot last loaded and the current one are read from the landing
snapshots those commits came from, reduced to the last change per key, and Stream Loaded as
upserts (`__op` 0) and deletes (`__op` 1). Labels are derived from the target snapshot, the
partition and the chunk; partitions are hash-partitioned by key with a fixed count and sorted
by key, so a retried load maps the same rows to the same labels: a finished label is skipped,
never doubled.
The snapshot loaded is recorded in `<database>.mssql_starrocks_state` only after every load
finished; replaying a delta is harmless because upserts and deletes by key are idempotent.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from dataclasses import dataclass

from mssql_starrocks.lake import iceberg as ice
from mssql_starrocks.lake import state
from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.mapping import typemap
from mssql_starrocks.mapping.names import quote_backtick
from mssql_starrocks.target import staging
from mssql_starrocks.target.starrocks import (
    StarRocksClient, StarRocksLoadError, StarRocksSettings, make_label, stream_load,
)

STATE_TABLE = "mssql_starrocks_state"
HEX_PREFIX = "__hex_"
OP_COLUMN = "__op"
LABEL_PREFIX_LIMIT = 128 - len("_p99999_c99999")  # room for the partition and chunk of each load
OK_STATUSES = ("Success", "Publish Timeout", "Label Already Exists", "Empty")
# One row per Stream Load, as each Spark task reports them: (name, Spark type, Arrow type).
_RESULT_FIELDS = (("partition", "int", "int32"), ("label", "string", "string"), ("status", "string", "string"),
                  ("loaded", "long", "int64"), ("filtered", "long", "int64"), ("total", "long", "int64"),
                  ("bytes", "long", "int64"), ("reused", "boolean", "bool_"), ("message", "string", "string"))
LOAD_RESULT_SCHEMA = ", ".join(f"{name} {spark_type}" for name, spark_type, _ in _RESULT_FIELDS)


# Failures a later attempt can get past: StarRocks busy, a load timing out, the connection lost.
TRANSIENT = re.compile(r"larger than limit|TOO_MANY|too many (tablet )?versions|timed? ?out|connection (to StarRocks )?"
                       r"lost|Connection(Error| reset| aborted| refused)|Broken pipe|Service Unavailable|"
                       r"RemoteDisconnected", re.I)


class StarRocksLoadFailed(RuntimeError):
    def __init__(self, table_label: str, failed: list[dict], *, delta: bool = False):
        first = failed[0]
        outcome = ("partitions that did load were upserts by key, which a re-run re-applies without doubling a row"
                   if delta else "the live StarRocks table was left unchanged")
        super().__init__(
            f"{table_label}: {len(failed)} Stream Load(s) failed; {outcome}. "
            f"First failure ({first['label']}): {first['message']}"
        )
        self.failed = failed

    @property
    def transient(self) -> bool:
        """Every failure is one a retry can get past (never filtered rows or a refused value)."""
        return all(TRANSIENT.search(r.get("message") or "") and not r.get("filtered") for r in self.failed)


@dataclass
class LoadOutcome:
    results: list[dict]
    label_prefix: str

    @property
    def loaded(self) -> int:
        return sum(r["loaded"] for r in self.results)

    @property
    def filtered(self) -> int:
        return sum(r["filtered"] for r in self.results)

    @property
    def bytes(self) -> int:
        return sum(r["bytes"] for r in self.results)

    @property
    def reused(self) -> int:
        return sum(1 for r in self.results if r["reused"])


def _make_loader(settings: StarRocksSettings, database: str, table: str, label_prefix: str,
                 columns: list[str], binary_columns: list[str], with_op: bool, max_load_bytes: int):
    """The function each Spark task runs: its rows become labelled Stream Loads of at most about
    `max_load_bytes` each, the next body encoded while the previous load is in flight. Chunk
    boundaries depend only on the partition's rows in order, so a retry of the same rows in the
    same order gets the same labels."""
    header_columns = [HEX_PREFIX + c if c in binary_columns else c for c in columns]
    exprs = {c: f"to_binary(`{HEX_PREFIX + c}`, 'hex')" for c in binary_columns}
    renamed = {c: HEX_PREFIX + c for c in binary_columns}
    if with_op:
        header_columns.append(OP_COLUMN)

    def load_partition(batches):
        from concurrent.futures import ThreadPoolExecutor

        import pyarrow as pa
        from pyspark import TaskContext

        from mssql_starrocks.target.json_rows import join_arrays, rows_json

        part = TaskContext.get().partitionId()
        results: list[dict] = []

        def send(chunk: int, body: bytes, count: int) -> dict:
            label = f"{label_prefix}_p{part}_c{chunk}"
            try:
                result = stream_load(settings, database, table, label, body, columns=header_columns,
                                     column_exprs=exprs, fmt="json")
                status, message = result.get("Status", ""), result.get("Message", "")
                reused = bool(result.get("reused"))
            except StarRocksLoadError as exc:
                result, status, message, reused = exc.result, "Fail", str(exc), False
            except OSError as exc:  # incl. requests' errors: the reply never came, the outcome is unknown here
                result, status, reused = {}, "Fail", False
                message = (f"connection to StarRocks lost during Stream Load {label} ({type(exc).__name__}); "
                           "a retry reuses the label, so a load that did commit is not applied twice")
            return {"partition": part, "label": label, "status": status,
                    "loaded": int(result.get("NumberLoadedRows", 0) or 0),
                    "filtered": int(result.get("NumberFilteredRows", 0) or 0),
                    "total": int(result.get("NumberTotalRows", count) or 0),
                    "bytes": len(body), "reused": reused, "message": message}

        chunks = itertools.count()
        with ThreadPoolExecutor(1) as pool:  # one load in flight while the next body is encoded
            in_flight: list = []

            def submit(bodies: list[bytes], count: int) -> bool:
                """Send the next load once the previous one is done; False once any load failed."""
                body = join_arrays(bodies)
                results.extend(f.result() for f in in_flight)
                in_flight[:] = [pool.submit(send, next(chunks), body, count)]
                return all(r["status"] in OK_STATUSES for r in results)

            pending: list[bytes] = []
            size = count = 0
            for batch in batches:
                if batch.num_rows:
                    pending.append(rows_json(batch, renamed))
                    size += len(pending[-1])
                    count += batch.num_rows
                if size >= max_load_bytes:
                    if not submit(pending, count):
                        break  # the step fails; encoding the rest would be wasted
                    pending, size, count = [], 0, 0
            else:
                if count:
                    submit(pending, count)
            results.extend(f.result() for f in in_flight)
        if not results:
            results.append({"partition": part, "label": f"{label_prefix}_p{part}", "status": "Empty", "loaded": 0,
                            "filtered": 0, "total": 0, "bytes": 0, "reused": False, "message": ""})
        yield pa.RecordBatch.from_pylist(results, schema=pa.schema(
            [(name, getattr(pa, arrow_type)()) for name, _, arrow_type in _RESULT_FIELDS]))

    return load_partition


def stream_load_dataframe(df, *, settings: StarRocksSettings, database: str, table: str, label_prefix: str,
                          schema_plan: sch.TableSchemaPlan, with_op: bool) -> LoadOutcome:
    """Load every partition of `df` (columns in StarRocks order, plus __op if with_op)."""
    columns = [c.name for c in schema_plan.starrocks_order()]
    binary = [c.name for c in schema_plan.starrocks_order() if c.spark_type == "binary"]
    loader = _make_loader(settings, database, table, label_prefix, columns, binary, with_op,
                          settings.load_max_bytes)
    results = [r.asDict() for r in df.mapInArrow(loader, LOAD_RESULT_SCHEMA).collect()]
    return LoadOutcome(sorted(results, key=lambda r: (r["partition"], r["label"])), label_prefix)


def _ordered(df, schema_plan: sch.TableSchemaPlan):
    from pyspark.sql import functions as F

    existing = set(df.columns)
    cols = []
    for c in schema_plan.starrocks_order():
        cols.append(F.col(quote_backtick(c.name)) if c.name in existing
                    else F.lit(None).cast(c.spark_type).alias(c.name))
    return cols


# --- state ------------------------------------------------------------------------------------
def ensure_state_table(client: StarRocksClient, database: str) -> None:
    client.execute(
        f"CREATE TABLE IF NOT EXISTS `{database}`.`{STATE_TABLE}` ("
        "`table_name` VARCHAR(256) NOT NULL, `iceberg_snapshot_id` BIGINT NOT NULL, "
        "`run_id` VARCHAR(64) NULL, `loaded_at` DATETIME NULL) "
        "PRIMARY KEY (`table_name`) DISTRIBUTED BY HASH (`table_name`)"
    )


def loaded_snapshot(client: StarRocksClient, database: str, table: str) -> int | None:
    if not client.table_exists(database, STATE_TABLE):
        return None
    rows = client.execute(f"SELECT iceberg_snapshot_id FROM `{database}`.`{STATE_TABLE}` WHERE table_name = %s",
                          (table,))
    return int(rows[0][0]) if rows else None


def record_snapshot(client: StarRocksClient, database: str, table: str, snapshot_id: int, run_id: str) -> None:
    ensure_state_table(client, database)
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    client.execute(
        f"INSERT INTO `{database}`.`{STATE_TABLE}` (table_name, iceberg_snapshot_id, run_id, loaded_at) "
        "VALUES (%s, %s, %s, %s)", (table, int(snapshot_id), run_id, now))


# --- full reload ------------------------------------------------------------------------------
def full_reload(spark, *, client: StarRocksClient, source: str, snapshot: ice.Snapshot, schema_plan: sch.TableSchemaPlan,
                database: str, table: str, model: str, buckets: int | None, replication_num: int | None,
                comment: str | None, run_id: str, table_label: str, log) -> LoadOutcome:
    staging_table = staging.fresh_staging(client, schema_plan=schema_plan, database=database, table=table, model=model,
                                          buckets=buckets, replication_num=replication_num, comment=comment,
                                          run_id=run_id, table_label=table_label, log=log)
    df = spark.read.option("snapshot-id", str(snapshot.snapshot_id)).table(source)
    df = df.select(*_ordered(df, schema_plan))
    # A fresh staging table per attempt, so fresh labels too: a label that loaded into an earlier
    # attempt's (dropped) staging table must not make this attempt skip its rows.
    prefix = make_label("msr", database, table, str(snapshot.snapshot_id), staging.run_tag(run_id),
                        uuid.uuid4().hex[:8], limit=LABEL_PREFIX_LIMIT)
    outcome = stream_load_dataframe(df, settings=client.settings, database=database, table=staging_table,
                                    label_prefix=prefix, schema_plan=schema_plan, with_op=False)
    failed = [r for r in outcome.results if r["status"] not in OK_STATUSES]
    if failed:
        client.drop_table(database, staging_table)
        raise StarRocksLoadFailed(table_label, failed)
    staging.swap_in(client, database=database, table=table, staging=staging_table,
                    expected_rows=snapshot.total_records, snapshot_id=snapshot.snapshot_id, table_label=table_label)
    return outcome


# --- delta ------------------------------------------------------------------------------------
def delta_chain(spark, source: str, loaded_id: int, current_id: int) -> list[ice.Snapshot] | None:
    """Snapshots after `loaded_id` up to `current_id` that changed rows (oldest first), or None if
    `current_id` does not descend from `loaded_id`."""
    snapshots = ice.snapshots_between(spark, source, loaded_id, current_id)
    if snapshots is None:
        return None
    return [s for s in snapshots if s.operation != "replace"]  # compactions: same rows, new files


def delta_frame(spark, *, source: str, snapshot_id: int, raw_table: str, chain: list[ice.Snapshot],
                schema_plan: sch.TableSchemaPlan):
    """Rows to upsert (__op 0) and keys to delete (__op 1) so StarRocks matches Iceberg `snapshot_id`.

    The keys that changed come from the landing snapshots behind `chain`; their rows are taken
    from the Iceberg snapshot itself, so StarRocks gets exactly the row Iceberg holds (including
    columns dropped in SQL Server, which keep their values), and a key Iceberg no longer holds
    is deleted.
    """
    from pyspark.sql import functions as F

    keys = list(schema_plan.key_columns)
    changed = None
    for snap in chain:
        raw_id = snap.summary.get(state.RAW_SNAPSHOT)
        if raw_id is None:
            return None
        landing = spark.read.option("snapshot-id", str(raw_id)).table(raw_table).select(
            *[F.col(quote_backtick(k)) for k in keys])
        changed = landing if changed is None else changed.unionByName(landing)
    changed = changed.distinct()
    current = spark.read.option("snapshot-id", str(snapshot_id)).table(source)
    upserts = current.join(changed, on=keys, how="left_semi")
    upserts = upserts.select(*_ordered(upserts, schema_plan), F.lit(0).alias(OP_COLUMN))
    deletes = changed.join(current.select(*[F.col(quote_backtick(k)) for k in keys]), on=keys, how="left_anti")
    deletes = deletes.select(*_ordered(deletes, schema_plan), F.lit(1).alias(OP_COLUMN))
    return upserts.unionByName(deletes)


def apply_delta(df, *, client: StarRocksClient, database: str, table: str, target_snapshot_id: int,
                schema_plan: sch.TableSchemaPlan, partitions: int, table_label: str) -> LoadOutcome:
    from pyspark.sql import functions as F

    keys = [F.col(quote_backtick(k)) for k in schema_plan.key_columns]
    # Labels depend only on the target snapshot, the partition and the chunk: hash-partitioned
    # by key and sorted by key (unique in a delta), a retry cuts the same chunks and reuses them.
    keyed = df.repartition(max(1, partitions), *keys).sortWithinPartitions(*keys)
    prefix = make_label("msr", database, table, "delta", str(target_snapshot_id), limit=LABEL_PREFIX_LIMIT)
    outcome = stream_load_dataframe(keyed, settings=client.settings, database=database, table=table,
                                    label_prefix=prefix, schema_plan=schema_plan, with_op=True)
    failed = [r for r in outcome.results if r["status"] not in OK_STATUSES]
    if failed:
        raise StarRocksLoadFailed(table_label, failed, delta=True)
    return outcome


def check_lengths(spark, source: str, snapshot_id: int, schema_plan: sch.TableSchemaPlan) -> None:
    """Refuse, by column, values longer than StarRocks can hold (only MAX types can be).

    NVARCHAR(n)/VARBINARY(n) always fit their mapped types; VARCHAR(MAX), NVARCHAR(MAX), XML and
    VARBINARY(MAX) can exceed StarRocks' 1048576-byte limit, which a load would reject row by row.
    """
    from pyspark.sql import functions as F

    
    limited = [c for c in schema_plan.columns
               if c.starrocks_type in (f"VARCHAR({typemap.STARROCKS_MAX_VARCHAR})",
                                       f"VARBINARY({typemap.STARROCKS_MAX_VARBINARY})")]
    if not limited:
        return
    df = spark.read.option("snapshot-id", str(snapshot_id)).table(source)
    row = df.select(*[F.max(F.octet_length(F.col(quote_backtick(c.name)))).alias(c.name) for c in limited]).collect()[0]
    too_long = [(c, row[c.name]) for c in limited if row[c.name] is not None and row[c.name] > typemap.STARROCKS_MAX_VARCHAR]
    if too_long:
        detail = "; ".join(
            f"column {c.name} ({c.source_type} -> {c.starrocks_type}) holds a value of {n:,} bytes" for c, n in too_long)
        raise sch.SchemaError(
            f"table {schema_plan.table_label}: {detail}, over StarRocks' maximum of "
            f"{typemap.STARROCKS_MAX_VARCHAR:,} bytes per value. The Iceberg table holds it; StarRocks was not changed. "
            "List the column under exclude_columns in the tables file to migrate the rest."
        )


def check_key_size(spark, source: str, snapshot_id: int, schema_plan: sch.TableSchemaPlan, model: str) -> None:
    """Refuse, before anything is written, a primary key value over StarRocks' 128-byte limit.

    StarRocks rejects such a row ("primary key size exceed the limit."), which would fail the load
    row by row. Keys whose declared types cannot exceed the limit are not scanned; otherwise the
    longest encoded key of the snapshot is computed (as the BE encodes it) and, if too long,
    the step fails with the table, the key columns, the size and what to do.
    """
    from pyspark.sql import functions as F

    if model != "primary_key" or sch.key_worst_case_bytes(schema_plan) <= sch.PRIMARY_KEY_LIMIT:
        return
    keys = list(schema_plan.key_columns)
    parts = []
    for i, k in enumerate(keys):
        base = schema_plan.column(k).starrocks_type.split("(")[0].upper()
        if base in sch.FIXED_KEY_BYTES:
            parts.append(F.lit(sch.FIXED_KEY_BYTES[base]))
            continue
        col = F.col(quote_backtick(k)).cast("string")
        size = F.coalesce(F.octet_length(col), F.lit(0))
        if i < len(keys) - 1:  # escaped NULs and a 2-byte terminator
            nuls = F.length(col) - F.length(F.regexp_replace(col, "\\x00", ""))
            size = size + F.coalesce(nuls, F.lit(0)) + F.lit(2)
        parts.append(size)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    df = spark.read.option("snapshot-id", str(snapshot_id)).table(source)
    row = df.select(F.max(total).alias("longest"),
                    F.sum(F.when(total > sch.PRIMARY_KEY_LIMIT, 1).otherwise(0)).alias("over")).collect()[0]
    longest, over = row["longest"], row["over"]
    if longest is None or longest <= sch.PRIMARY_KEY_LIMIT:
        return
    declared = ", ".join(f"{k} ({schema_plan.column(k).source_type} -> {schema_plan.column(k).starrocks_type})"
                         for k in keys)
    raise sch.SchemaError(
        f"table {schema_plan.table_label}: {over} row(s) have a primary key over StarRocks' limit of "
        f"{sch.PRIMARY_KEY_LIMIT} bytes per key value; the longest is {longest} bytes (key columns: {declared}). "
        "The Iceberg table holds them; StarRocks was not changed. Use a shorter key (key_columns), or for a "
        "load_mode full table `starrocks: {model: duplicate}` (no primary key limit)."
    )
