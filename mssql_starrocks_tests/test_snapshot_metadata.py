"""Iceberg snapshot metadata read on the driver (lake/iceberg.py): the JVM path and the SQL
fallback (Spark Connect's) give the same Snapshot values, and the JVM path runs no Spark job.

One local Iceberg table goes through commits of this project (they carry a run id) and of other
writers (a compaction's `replace`, a user's DELETE), and a rollback that leaves a commit outside
the current lineage; after each commit every lookup is asked of both paths.
"""

from __future__ import annotations

import pytest

from mssql_starrocks.lake import iceberg as ice
from mssql_starrocks.lake import state

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def table(spark, tmp_path_factory):
    settings = ice.IcebergSettings(catalog_type="local", spark_catalog_name="metaprobe",
                                   local_dir=str(tmp_path_factory.mktemp("metaprobe")))
    settings.attach(spark)
    settings.ensure_namespace(spark, "ns")
    name = settings.table_name("ns", "events")
    spark.sql(f"CREATE TABLE {name} (id BIGINT, v STRING) USING iceberg TBLPROPERTIES ('format-version'='2')")
    spark.sql(f"ALTER TABLE {name} WRITE ORDERED BY id")  # as the project's tables (compact sorts)
    yield name
    spark.sql(f"DROP TABLE IF EXISTS {name}")


def commit_rows(spark, name: str, first: int, count: int, run_id: str | None) -> None:
    """One append of `count` rows (in two files, so a compaction has something to rewrite)."""
    writer = spark.range(first, first + count, numPartitions=2).selectExpr("id", "CAST(id AS STRING) AS v").writeTo(name)
    if run_id:
        writer = writer.option(f"snapshot-property.{state.RUN_ID}", run_id)
    writer.append()


def sql_only(monkeypatch):
    """The SQL fallback, as on Spark Connect: no JVM to read metadata through."""
    monkeypatch.setattr(ice, "_jvm_metadata", lambda spark, qualified, fresh=False: None)


def lookups(spark, name: str, runs: list[str]) -> dict:
    """Every lookup lake/iceberg.py offers, on the table as it stands."""
    current = ice.current_snapshot(spark, name)
    out = {"current_snapshot": current, "current_snapshot_id": ice.current_snapshot_id(spark, name),
           "last_own_snapshot": ice.last_own_snapshot(spark, name),
           "committed_state": ice.committed_state(spark, name)}
    for run in runs:
        out[f"snapshot_of_run {run}"] = _outcome(lambda: ice.snapshot_of_run(spark, name, run))
    ids = [row[0] for row in spark.sql(f"SELECT snapshot_id FROM {name}.snapshots").collect()]
    for sid in ids + [123456789]:
        out[f"snapshot_by_id {sid}"] = _outcome(lambda: ice.snapshot_by_id(spark, name, sid))
    for older in ids:
        out[f"snapshots_between {older}"] = _outcome(
            lambda: ice.snapshots_between(spark, name, older, current.snapshot_id))
    return out


def _outcome(fn):
    try:
        return fn()
    except RuntimeError as exc:
        return f"RuntimeError: {exc}"


def test_the_jvm_path_and_the_sql_fallback_give_the_same_snapshots_commit_after_commit(spark, table, monkeypatch):
    runs: list[str] = []
    seen: list[dict] = []

    def compare(what: str) -> dict:
        jvm = lookups(spark, table, runs)
        with monkeypatch.context() as m:
            sql_only(m)
            sql = lookups(spark, table, runs)
        assert jvm == sql, what
        seen.append(jvm)
        return jvm

    first = compare("no snapshot yet")
    assert first["current_snapshot"] is None and first["current_snapshot_id"] is None
    assert first["last_own_snapshot"] is None and first["committed_state"] == {}
    for i, run in enumerate(("run-1", "run-2")):
        runs.append(run)
        commit_rows(spark, table, i * 100, 100, run)
        now = compare(f"after {run}")
        assert now["last_own_snapshot"] == now["current_snapshot"] == now[f"snapshot_of_run {run}"]
        assert now["current_snapshot"].summary[state.RUN_ID] == run
        assert now["current_snapshot"].total_records == (i + 1) * 100
    own = now["last_own_snapshot"]

    compacted = ice.compact(spark, table, target_file_size_bytes=512 * 1024 * 1024)
    assert compacted["compacted"], compacted
    now = compare("after a compaction (another writer's replace)")
    assert now["current_snapshot"].operation == "replace" and state.RUN_ID not in now["current_snapshot"].summary
    assert now["last_own_snapshot"] == own  # looked past the replace
    assert [s.operation for s in now[f"snapshots_between {own.snapshot_id}"]] == ["replace"]

    spark.sql(f"DELETE FROM {table} WHERE id < 10")  # a user's commit: no run id
    now = compare("after a user's delete")
    assert now["last_own_snapshot"] == own and now["current_snapshot"].total_records == 190
    deleted = now["current_snapshot"]

    runs.append("run-3")
    commit_rows(spark, table, 500, 5, "run-3")
    run3 = compare("after run-3")["snapshot_of_run run-3"]
    catalog, _, name = table.partition(".")
    spark.sql(f"CALL {catalog}.system.rollback_to_snapshot('{name}', {deleted.snapshot_id})")
    now = compare("after a rollback past run-3")
    # run-3's history entry is newer than run-2's, but no longer in the current lineage.
    assert now["current_snapshot"] == deleted and now["last_own_snapshot"] == own
    assert now["snapshot_of_run run-3"] == run3  # still a snapshot of the table, outside the current lineage
    assert now[f"snapshots_between {run3.snapshot_id}"] is None  # the current one does not descend from it
    assert now["snapshot_by_id 123456789"].startswith("RuntimeError: snapshot 123456789 of")
    assert len(seen) == 7


def _job_ids(spark) -> set[int]:
    tracker = spark.sparkContext.statusTracker()
    return set(tracker.getJobIdsForGroup(None)) | set(tracker.getActiveJobsIds())


def test_the_jvm_path_issues_no_spark_job(spark, table, monkeypatch):
    if not ice.table_exists(spark, table) or ice.current_snapshot(spark, table) is None:
        commit_rows(spark, table, 0, 10, "run-jobs")
    current = ice.current_snapshot(spark, table)
    own = ice.last_own_snapshot(spark, table)

    def every_lookup():
        assert ice.current_snapshot(spark, table) == current
        assert ice.current_snapshot_id(spark, table) == current.snapshot_id
        assert ice.last_own_snapshot(spark, table) == own
        assert ice.snapshot_by_id(spark, table, own.snapshot_id) == own
        assert ice.snapshot_of_run(spark, table, own.summary[state.RUN_ID]).snapshot_id == own.snapshot_id
        assert ice.snapshots_between(spark, table, own.snapshot_id, current.snapshot_id) is not None
        assert ice.committed_state(spark, table) == own.summary

    before = _job_ids(spark)
    every_lookup()
    assert _job_ids(spark) == before
    # The measure can tell: the SQL fallback runs Spark jobs for the same lookups.
    with monkeypatch.context() as m:
        sql_only(m)
        every_lookup()
    assert len(_job_ids(spark) - before) >= 6
