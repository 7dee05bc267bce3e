"""Iceberg catalogs for Spark: AWS Glue + S3 in production, a local JDBC (SQLite) catalog by default.

Both are real Iceberg catalogs with atomic commits; the local one needs no account and keeps
its metadata in `.local/iceberg/catalog.db` and its files in `.local/iceberg/warehouse`. Every
write commits one snapshot whose summary carries the Dagster run id (and whatever the caller
adds), so any snapshot can be traced back to the run that made it, and a step can find the
snapshot its own run committed even when others commit concurrently.
"""

from __future__ import annotations

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


def snapshot_of_run(spark, qualified: str, run_id: str) -> Snapshot:
    """The newest snapshot of `qualified` committed by `run_id`."""
    return _newest(spark, f"SELECT snapshot_id, committed_at, operation, summary FROM {qualified}.snapshots "
                          f"WHERE summary['{state.RUN_ID}'] = '{run_id}' ORDER BY committed_at DESC LIMIT 1",
                   missing=f"no snapshot of {qualified} was committed by run {run_id}")


def current_snapshot(spark, qualified: str) -> Snapshot | None:
    return _newest(spark, f"SELECT s.snapshot_id, s.committed_at, s.operation, s.summary FROM {qualified}.snapshots s "
                          f"JOIN (SELECT snapshot_id FROM {qualified}.history WHERE is_current_ancestor "
                          f"ORDER BY made_current_at DESC LIMIT 1) h ON s.snapshot_id = h.snapshot_id")


def current_snapshot_id(spark, qualified: str) -> int | None:
    """The id of the table's current snapshot (its `main` branch), read afresh from the catalog
    (Spark's cached table refreshed first): one small scan of the `refs` metadata table."""
    spark.sql(f"REFRESH TABLE {qualified}")
    rows = spark.sql(f"SELECT snapshot_id FROM {qualified}.refs WHERE name = 'main'").collect()
    return int(rows[0]["snapshot_id"]) if rows else None


def last_own_snapshot(spark, qualified: str) -> Snapshot | None:
    """The newest snapshot in the current lineage that this project committed (it carries a run
    id), so state and counts survive commits of other writers that only rewrite files, such as
    a compaction by Glue's table optimizer or a user's maintenance job."""
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
    return _newest(spark, f"SELECT snapshot_id, committed_at, operation, summary FROM {qualified}.snapshots "
                          f"WHERE snapshot_id = {int(snapshot_id)}",
                   missing=f"snapshot {snapshot_id} of {qualified} does not exist (expired?)")


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
