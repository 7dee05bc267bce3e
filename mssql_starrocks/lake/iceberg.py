"""Iceberg catalogs for Spark: AWS Glue + S3 in production, a local JDBC (SQLite) catalog by default.

Both are real Iceberg catalogs with atomic commits; the local one needs no account and keeps
its metadata in `.local/iceberg/catalog.db` and its files in `.local/iceberg/warehouse`. Every
write commits one snapshot whose summary carries the Dagster run id (and whatever the caller
adds), so any snapshot can be traced back to the run that made it, and a step can find the
snapshot its own run committed even when others commit concurrently.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mssql_starrocks.lake import state

# The local catalog's directory unless ICEBERG_LOCAL_DIR names another: .local/iceberg in the project.
DEFAULT_LOCAL_DIR = str(Path(__file__).resolve().parents[2] / ".local" / "iceberg")


@dataclass(frozen=True)
class IcebergSettings:
    catalog_type: str = "local"  # "local" | "glue"
    spark_catalog_name: str = "lake"
    warehouse: str | None = None
    local_dir: str = DEFAULT_LOCAL_DIR
    aws_region: str | None = None
    glue_endpoint: str | None = None
    s3_endpoint: str | None = None
    s3_path_style_access: bool = False
    target_file_size_bytes: int = 256 * 1024 * 1024

    def __post_init__(self):
        if self.catalog_type not in ("local", "glue"):
            raise ValueError(f"ICEBERG_CATALOG_TYPE must be 'local' or 'glue', not {self.catalog_type!r}")
        if self.catalog_type == "glue" and not (self.warehouse or "").startswith("s3://"):
            raise ValueError("ICEBERG_WAREHOUSE must be an s3:// location when ICEBERG_CATALOG_TYPE=glue")
        if self.catalog_type == "local" and (self.warehouse or "").startswith(("s3://", "s3a://")):
            # The local catalog writes files through Hadoop's local file system, not S3.
            raise ValueError(f"ICEBERG_CATALOG_TYPE=local cannot use the S3 warehouse ICEBERG_WAREHOUSE={self.warehouse}: "
                             "set ICEBERG_CATALOG_TYPE=glue for an S3 warehouse, or unset ICEBERG_WAREHOUSE")

    @property
    def display(self) -> str:
        if self.catalog_type == "glue":
            return f"glue:{self.warehouse}" + (f" (endpoint {self.glue_endpoint})" if self.glue_endpoint else "")
        return f"local:{self._local_root()}"

    def _local_root(self) -> Path:
        return Path(self.local_dir).resolve()

    def spark_conf(self) -> dict[str, str]:
        """Spark catalog conf for this catalog. Holds no credentials (AWS uses its default chain)."""
        p = f"spark.sql.catalog.{self.spark_catalog_name}"
        conf = {p: "org.apache.iceberg.spark.SparkCatalog"}
        if self.catalog_type == "local":
            root = self._local_root()
            warehouse = self.warehouse or (root / "warehouse").as_uri()
            conf.update({
                f"{p}.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
                f"{p}.uri": f"jdbc:sqlite:{root / 'catalog.db'}",
                f"{p}.jdbc.schema-version": "V1",
                # Wait for a lock instead of failing at once when two runs commit at the same
                # moment. (Not WAL: a pooled catalog connection that keeps a read snapshot open
                # then fails every later commit with SQLITE_BUSY_SNAPSHOT.)
                f"{p}.jdbc.busy_timeout": "60000",
                # One SQLite connection per JVM: steps of several tables run at once in one process
                # (the threaded executor), and two connections of one process committing together
                # got SQLITE_BUSY at once; Iceberg's client pool queues the callers instead.
                f"{p}.clients": "1",
                f"{p}.warehouse": warehouse,
            })
        else:
            conf.update({
                f"{p}.type": "glue",
                f"{p}.warehouse": self.warehouse or "",
                f"{p}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
            })
            if self.aws_region:
                conf[f"{p}.client.region"] = self.aws_region
            if self.glue_endpoint:
                conf[f"{p}.glue.endpoint"] = self.glue_endpoint
            if self.s3_endpoint:
                conf[f"{p}.s3.endpoint"] = self.s3_endpoint
            if self.s3_path_style_access:
                conf[f"{p}.s3.path-style-access"] = "true"
        return conf

    def prepare_local(self) -> None:
        if self.catalog_type == "local":
            (self._local_root() / "warehouse").mkdir(parents=True, exist_ok=True)

    def attach(self, spark) -> str:
        """Register the catalog on a running session (catalogs load lazily by name); returns its name."""
        self.prepare_local()
        for key, value in self.spark_conf().items():
            spark.conf.set(key, value)
        return self.spark_catalog_name

    def table_name(self, namespace: str, table: str) -> str:
        return f"{self.spark_catalog_name}.`{namespace}`.`{table}`"

    def ensure_namespace(self, spark, namespace: str) -> None:
        # One at a time in this process: the catalogs' IF NOT EXISTS is a look-then-create, and a
        # run's steps of two tables of one namespace run at once (defs/migration/executor.py).
        with _NAMESPACE_LOCK:
            spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {self.spark_catalog_name}.`{namespace}`")


_NAMESPACE_LOCK = threading.Lock()


def table_exists(spark, qualified: str) -> bool:
    return bool(spark.catalog.tableExists(qualified))


@dataclass(frozen=True)
class Snapshot:
    """One Iceberg snapshot: its id, when and by which operation it was committed, and its
    summary (Iceberg's counts, and the run id and state this project records, see state.py)."""

    snapshot_id: int
    committed_at: Any
    operation: str
    summary: dict[str, str]

    @property
    def total_records(self) -> int:
        return int(self.summary.get("total-records", 0))

    @property
    def total_files(self) -> int:
        return int(self.summary.get("total-data-files", 0))

    @property
    def total_bytes(self) -> int:
        return int(self.summary.get("total-files-size", 0))


def _newest(spark, sql: str, *, missing: str | None = None) -> Snapshot | None:
    """The first snapshot `sql` selects (snapshot_id, committed_at, operation, summary); if there
    is none, None, or with `missing` a RuntimeError saying it."""
    rows = spark.sql(sql).collect()
    if not rows:
        if missing:
            raise RuntimeError(missing)
        return None
    row = rows[0]
    return Snapshot(int(row["snapshot_id"]), row["committed_at"], row["operation"], dict(row["summary"] or {}))


# --- reading snapshot metadata ---------------------------------------------------------------
# Two ways to read the same metadata. With the driver's JVM (a classic session) the Iceberg table
# is loaded through the session's catalog (Spark3Util.loadIcebergTable: the same table object,
# cached or not, that a query of `<table>.snapshots` scans) and its metadata is read in one call
# (TableMetadataParser.toJson): no Spark job, no query planning. A Spark Connect session has no
# JVM here, so it queries Iceberg's metadata tables (`.snapshots`, `.history`, `.refs`) with SQL,
# a small Spark job each. Both give the same answers (mssql_starrocks_tests/test_snapshot_metadata.py).


@dataclass(frozen=True)
class _Metadata:
    """What the snapshot functions need of a table's metadata, read on the driver."""

    main: int | None  # the `main` branch's snapshot (the table's current snapshot)
    snapshots: dict[int, Snapshot]
    parents: dict[int, int | None]
    log: tuple[tuple[int, int], ...]  # the snapshot log (history): (made current at, in ms; snapshot id)

    def current_ancestors(self) -> set[int]:
        """The current snapshot and its ancestors still in the table (Iceberg's currentAncestorIds,
        which the `history` table's is_current_ancestor is)."""
        out, cursor = set(), self.main
        while cursor is not None and cursor in self.snapshots and cursor not in out:
            out.add(cursor)
            cursor = self.parents.get(cursor)
        return out

    def newest_in_log(self, accept) -> Snapshot | None:
        """The snapshot of the newest history entry whose snapshot id `accept`s (ties: the later entry)."""
        best = None
        for position, (made_current_ms, snapshot_id) in enumerate(self.log):
            if accept(snapshot_id) and (best is None or (made_current_ms, position) >= best[0]):
                best = ((made_current_ms, position), snapshot_id)
        return self.snapshots.get(best[1]) if best else None


def _timestamp(millis: int):
    """Milliseconds since the epoch as PySpark returns a TIMESTAMP (the metadata tables' committed_at)."""
    from pyspark.sql.types import TimestampType

    return TimestampType().fromInternal(int(millis) * 1000)


def _parse_metadata(text: str) -> _Metadata:
    """Iceberg's table metadata JSON (the format of its metadata files) -> _Metadata."""
    raw = json.loads(text)
    snapshots, parents = {}, {}
    for entry in raw.get("snapshots") or ():
        summary = dict(entry.get("summary") or {})
        operation = summary.pop("operation", None)  # the JSON carries it in the summary; Snapshot.summary() not
        sid = int(entry["snapshot-id"])
        snapshots[sid] = Snapshot(sid, _timestamp(entry["timestamp-ms"]), operation, summary)
        parent = entry.get("parent-snapshot-id")
        parents[sid] = int(parent) if parent is not None else None
    main = ((raw.get("refs") or {}).get("main") or {}).get("snapshot-id")
    if main is None and "refs" not in raw:  # metadata without refs (format v1 before refs): the current snapshot
        current = raw.get("current-snapshot-id")
        main = current if current is not None and int(current) >= 0 else None
    log = tuple((int(e["timestamp-ms"]), int(e["snapshot-id"])) for e in raw.get("snapshot-log") or ())
    return _Metadata(int(main) if main is not None else None, snapshots, parents, log)


def _jvm_metadata(spark, qualified: str, *, fresh: bool = False) -> _Metadata | None:
    """The table's metadata read through the driver's JVM, or None where there is none (Spark
    Connect) or the table does not load (then the SQL path runs and fails as it always did).
    `fresh`: re-read from the catalog first (REFRESH TABLE's effect), else the catalog's
    table as the session holds it, exactly what the metadata tables would show."""
    from mssql_starrocks.lib.spark import is_connect

    if is_connect(spark) or getattr(spark, "_jsparkSession", None) is None:
        return None
    from py4j.protocol import Py4JJavaError

    jvm = spark.sparkContext._jvm
    try:
        table = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, qualified)
    except Py4JJavaError as exc:
        if "NoSuchTableException" in str(exc.java_exception.getClass().getName()):
            return None
        raise
    if fresh:
        table.refresh()
    return _parse_metadata(jvm.org.apache.iceberg.TableMetadataParser.toJson(table.operations().current()))


def snapshot_of_run(spark, qualified: str, run_id: str) -> Snapshot:
    """The newest snapshot of `qualified` committed by `run_id`."""
    missing = f"no snapshot of {qualified} was committed by run {run_id}"
    meta = _jvm_metadata(spark, qualified)
    if meta is not None:
        ours = [(s.committed_at, i, s) for i, s in enumerate(meta.snapshots.values()) if s.summary.get(state.RUN_ID) == run_id]
        if not ours:
            raise RuntimeError(missing)
        return max(ours, key=lambda t: t[:2])[2]
    return _newest(spark, f"SELECT snapshot_id, committed_at, operation, summary FROM {qualified}.snapshots "
                          f"WHERE summary['{state.RUN_ID}'] = '{run_id}' ORDER BY committed_at DESC LIMIT 1",
                   missing=missing)


def current_snapshot(spark, qualified: str) -> Snapshot | None:
    """The snapshot of the newest history entry in the current lineage (the table's current one)."""
    meta = _jvm_metadata(spark, qualified)
    if meta is not None:
        ancestors = meta.current_ancestors()
        return meta.newest_in_log(lambda sid: sid in ancestors)
    return _newest(spark, f"SELECT s.snapshot_id, s.committed_at, s.operation, s.summary FROM {qualified}.snapshots s "
                          f"JOIN (SELECT snapshot_id FROM {qualified}.history WHERE is_current_ancestor "
                          f"ORDER BY made_current_at DESC LIMIT 1) h ON s.snapshot_id = h.snapshot_id")


def current_snapshot_id(spark, qualified: str) -> int | None:
    """The id of the table's current snapshot (its `main` branch), read afresh from the catalog
    (Spark's cached table refreshed first)."""
    meta = _jvm_metadata(spark, qualified, fresh=True)
    if meta is not None:
        return meta.main
    spark.sql(f"REFRESH TABLE {qualified}")
    rows = spark.sql(f"SELECT snapshot_id FROM {qualified}.refs WHERE name = 'main'").collect()
    return int(rows[0]["snapshot_id"]) if rows else None


def last_own_snapshot(spark, qualified: str) -> Snapshot | None:
    """The newest snapshot in the current lineage that this project committed (it carries a run
    id), so state and counts survive commits of other writers that only rewrite files, such as
    a compaction by Glue's table optimizer or a user's maintenance job."""
    meta = _jvm_metadata(spark, qualified)
    if meta is not None:
        ancestors = meta.current_ancestors()
        return meta.newest_in_log(lambda sid: sid in ancestors and sid in meta.snapshots
                                  and meta.snapshots[sid].summary.get(state.RUN_ID) is not None)
    return _newest(spark, f"SELECT s.snapshot_id, s.committed_at, s.operation, s.summary FROM {qualified}.snapshots s "
                          f"JOIN {qualified}.history h ON s.snapshot_id = h.snapshot_id "
                          f"WHERE h.is_current_ancestor AND s.summary['{state.RUN_ID}'] IS NOT NULL "
                          f"ORDER BY h.made_current_at DESC LIMIT 1")


def committed_state(spark, qualified: str) -> dict[str, str]:
    """The summary of the Iceberg table's last snapshot this project committed ({} if none)."""
    if not table_exists(spark, qualified):
        return {}
    snap = last_own_snapshot(spark, qualified)
    return dict(snap.summary) if snap else {}


def snapshot_by_id(spark, qualified: str, snapshot_id: int) -> Snapshot:
    missing = f"snapshot {snapshot_id} of {qualified} does not exist (expired?)"
    meta = _jvm_metadata(spark, qualified)
    if meta is not None:
        if int(snapshot_id) not in meta.snapshots:
            raise RuntimeError(missing)
        return meta.snapshots[int(snapshot_id)]
    return _newest(spark, f"SELECT snapshot_id, committed_at, operation, summary FROM {qualified}.snapshots "
                          f"WHERE snapshot_id = {int(snapshot_id)}", missing=missing)


def snapshots_between(spark, qualified: str, older_id: int, newer_id: int) -> list[Snapshot] | None:
    """The snapshots after `older_id` up to `newer_id` along `newer_id`'s parents (oldest first),
    or None if `newer_id` does not descend from `older_id`."""
    meta = _jvm_metadata(spark, qualified)
    if meta is None:
        rows = spark.sql(f"SELECT snapshot_id, parent_id, committed_at, operation, summary "
                         f"FROM {qualified}.snapshots").collect()
        meta = _Metadata(None, {int(r["snapshot_id"]): Snapshot(int(r["snapshot_id"]), r["committed_at"], r["operation"],
                                                                dict(r["summary"] or {})) for r in rows},
                         {int(r["snapshot_id"]): (int(r["parent_id"]) if r["parent_id"] is not None else None)
                          for r in rows}, ())
    chain, cursor = [], newer_id
    while cursor is not None and cursor != older_id:
        chain.append(cursor)
        cursor = meta.parents.get(cursor)
    if cursor != older_id:
        return None
    missing = [sid for sid in chain if sid not in meta.snapshots]
    if missing:
        raise RuntimeError(f"snapshot {missing[0]} of {qualified} does not exist (expired?)")
    return [meta.snapshots[sid] for sid in reversed(chain)]


def column_nullability(spark, qualified: str) -> dict[str, bool]:
    """Whether each column of the table accepts NULL, as its Iceberg schema says (optional vs required)."""
    return {f.name: f.nullable for f in spark.table(qualified).schema.fields}


def table_location(spark, qualified: str) -> str | None:
    for row in spark.sql(f"DESCRIBE TABLE EXTENDED {qualified}").collect():
        if row[0] == "Location":
            return row[1]
    return None


class _Callable:
    """A Python callable exposed to the JVM as java.util.concurrent.Callable (py4j callback)."""

    def __init__(self, fn):
        self.fn = fn
        self.error: BaseException | None = None

    def call(self):
        try:
            self.fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in Python after the JVM returns
            self.error = exc
            raise
        return None

    class Java:
        implements = ["java.util.concurrent.Callable"]


def with_commit_properties(spark, properties: dict[str, str], fn) -> None:
    """Run `fn` (Spark SQL such as MERGE) so its Iceberg commit carries `properties` in its summary.

    Uses Iceberg's CommitMetadata.withCommitProperties, the documented way to add snapshot
    properties to SQL writes; py4j's pinned-thread mode runs the callback on the same JVM
    thread, where Iceberg reads the thread-local properties at commit time. It is the only way
    in Iceberg 1.10 on Spark 3.5: Spark 3.5 hands MERGE no write options (so no
    `snapshot-property.*`), and the session setting `spark.sql.iceberg.snapshot-property.*` is
    Spark 4 only. A Spark Connect session has no JVM here, so it is refused (definitions refuse
    such tables at load already; see lib/spark.check_spark_connect).
    """
    from pyspark.java_gateway import ensure_callback_server_started

    from mssql_starrocks.lib.spark import is_connect

    if is_connect(spark):
        raise RuntimeError(
            "a MERGE whose Iceberg commit carries snapshot properties needs the driver's JVM "
            "(Iceberg's CommitMetadata), which a Spark Connect session does not have; run tables with "
            "load_mode incremental or change_tracking with SPARK_MASTER instead of SPARK_REMOTE")

    gateway = spark.sparkContext._gateway
    ensure_callback_server_started(gateway)
    jvm = spark.sparkContext._jvm
    props = jvm.java.util.HashMap()
    for key, value in properties.items():
        props.put(key, value)
    task = _Callable(fn)
    try:
        jvm.org.apache.iceberg.spark.CommitMetadata.withCommitProperties(
            props, task, jvm.java.lang.RuntimeException().getClass())
    except Exception:
        if task.error is not None:
            raise task.error from None
        raise


def compact(spark, qualified: str, *, target_file_size_bytes: int, min_input_files: int = 2) -> dict:
    """Rewrite small data files into files of about `target_file_size_bytes` (Iceberg's
    rewrite_data_files, in the table's sort order): an Iceberg `replace` snapshot, same rows.

    Like any other writer's, its snapshot carries none of this project's summary entries;
    readers of state and counts look past it (`last_own_snapshot`), and the StarRocks load
    sees no change in it (`target.stream_load.delta_chain`). Returns the counts and the files before/after.
    """
    before = current_snapshot(spark, qualified)
    if before is None:
        raise RuntimeError(f"{qualified} has no snapshot yet; nothing to compact")
    catalog, _, table = qualified.partition(".")
    row = spark.sql(
        f"CALL {catalog}.system.rewrite_data_files(table => '{table}', strategy => 'sort', options => map("
        f"'target-file-size-bytes', '{int(target_file_size_bytes)}', 'min-input-files', '{int(min_input_files)}'))"
    ).collect()[0]
    after = current_snapshot(spark, qualified)
    return {"rewritten_files": int(row["rewritten_data_files_count"]), "added_files": int(row["added_data_files_count"]),
            "rewritten_bytes": int(row["rewritten_bytes_count"]), "files_before": before.total_files,
            "files_after": after.total_files, "rows": after.total_records, "snapshot_id": after.snapshot_id,
            "compacted": after.snapshot_id != before.snapshot_id}
