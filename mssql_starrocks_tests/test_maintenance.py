"""Iceberg compaction (the optional maintenance asset) through Dagster, against the stand-ins.

Insert-mostly incremental loads leave a data file each; compacting must leave one file with the
same rows, and neither it nor another writer's `replace` snapshot may lose the incremental state
or turn the next StarRocks load into a full reload.
"""

from __future__ import annotations

import dagster as dg
import pytest

from mssql_starrocks_tests import e2e

DB = "maint"
TABLES_YAML = f"""
version: 1
database: {DB}
tables:
  - schema: dbo
    name: events
    load_mode: change_tracking
    key_columns: [id]
    maintenance: {{compaction: true, schedule: "0 3 * * 0"}}
  - schema: dbo
    name: plain
"""


def sql(devservers, statement: str):
    return e2e.mssql_rows(devservers, statement, database=DB)


@pytest.fixture(scope="module")
def maint(devservers, tmp_path_factory, spark):
    work = tmp_path_factory.mktemp("maint")
    e2e.mssql_rows(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    e2e.mssql_rows(devservers, f"ALTER DATABASE [{DB}] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS)",
                   database="master")
    sql(devservers, "CREATE TABLE dbo.events (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50), qty INT)")
    sql(devservers, "ALTER TABLE dbo.events ENABLE CHANGE_TRACKING")
    sql(devservers, "CREATE TABLE dbo.plain (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50))")
    sql(devservers, "INSERT INTO dbo.plain VALUES (1, N'a')")
    insert(devservers, 1, 500)
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    env = e2e.product_env(devservers, work, tables_file)
    with e2e.environ(env):
        defs = e2e.load_definitions()
    return {"env": env, "defs": defs, "instance": dg.DagsterInstance.ephemeral(), "devservers": devservers,
            "spark": spark}


def insert(devservers, first: int, last: int) -> None:
    for start in range(first, last + 1, 250):
        values = ", ".join(f"({i}, N'event {i}', {i})" for i in range(start, min(start + 250, last + 1)))
        sql(devservers, f"INSERT INTO dbo.events (id, name, qty) VALUES {values}")


def run(maint, selection):
    with e2e.environ(maint["env"]):
        return e2e.run_assets(maint["defs"], selection, maint["instance"])


def layers(maint) -> tuple[list, list, list]:
    source = sorted(tuple(r) for r in sql(maint["devservers"], "SELECT id, name, qty FROM dbo.events"))
    iceberg = sorted(tuple(r) for r in maint["spark"].sql(f"SELECT id, name, qty FROM lake.{DB}_dbo.events").collect())
    starrocks = sorted(tuple(r) for r in e2e.starrocks_rows(maint["devservers"],
                                                            f"SELECT id, name, qty FROM {DB}_dbo.events"))
    return source, iceberg, starrocks


def data_files(maint) -> int:
    return maint["spark"].sql(f"SELECT count(*) FROM lake.{DB}_dbo.events.files").collect()[0][0]


def test_compaction_asset_and_schedule_exist_only_where_asked(maint):
    keys = {k.to_user_string() for k in maint["defs"].resolve_asset_graph().get_all_asset_keys()}
    assert f"compaction/{DB}/dbo/events" in keys and f"compaction/{DB}/dbo/plain" not in keys
    schedules = [s for s in maint["defs"].schedules if s.name.startswith("compaction_")]
    assert len(schedules) == 1 and schedules[0].cron_schedule == "0 3 * * 0"
    node = maint["defs"].resolve_asset_graph().get(dg.AssetKey(["compaction", DB, "dbo", "events"]))
    assert dg.AssetKey(["iceberg", DB, "dbo", "events"]) in node.parent_keys


def other_writers_replace(maint) -> None:
    """Another maintenance tool commits a `replace` snapshot (here: Iceberg's rewrite_manifests)
    that carries none of this project's summary entries."""
    maint["spark"].sql(f"CALL lake.system.rewrite_manifests(table => '{DB}_dbo.events')").collect()


def latest(maint):
    return maint["spark"].sql(f"SELECT operation, summary FROM lake.{DB}_dbo.events.snapshots "
                              "ORDER BY committed_at DESC LIMIT 1").collect()[0]


def change_and_run(maint, chain: list, ids: tuple[int, int], deleted: int) -> dict:
    sql(maint["devservers"], f"UPDATE dbo.events SET qty = qty + 100 WHERE id IN {ids}")
    sql(maint["devservers"], f"DELETE FROM dbo.events WHERE id = {deleted}")
    mats = e2e.materializations(run(maint, chain))
    assert mats[f"raw/{DB}/dbo/events"]["dagster/row_count"] == 3  # only the changes were read: the state was found
    sr = mats[f"starrocks/{DB}/dbo/events"]
    assert (sr["load_kind"], sr["loaded_rows"]) == ("delta", 3), sr["load_reason"]  # 2 upserts + 1 delete
    source, iceberg, starrocks = layers(maint)
    assert source == iceberg == starrocks
    return mats


def test_compaction_keeps_rows_and_state_and_the_next_load_stays_a_delta(maint):
    chain = [dg.AssetKey([layer, DB, "dbo", "events"]) for layer in ("raw", "iceberg", "starrocks")]
    assert run(maint, chain).success
    for first in (501, 601, 701):  # insert-only changes (an event table): each MERGE adds a data file
        insert(maint["devservers"], first, first + 99)
        assert run(maint, chain).success
    state_key = "mssql_starrocks.ct_version"
    assert state_key in latest(maint)["summary"]

    other_writers_replace(maint)
    assert latest(maint)["operation"] == "replace" and state_key not in latest(maint)["summary"]
    change_and_run(maint, chain, (1, 2), 3)  # the state is read past the other writer's snapshot
    before = data_files(maint)
    assert before >= 3

    result = run(maint, [dg.AssetKey(["compaction", DB, "dbo", "events"])])
    logs = [e.user_message for e in maint["instance"].all_logs(result.run_id)]
    assert any(f"holding the table lock for run {result.run_id}" in m for m in logs)  # as the table's own steps
    meta = e2e.materializations(result)[f"compaction/{DB}/dbo/events"]
    assert (meta["files_before"], meta["files_after"], meta["compacted"]) == (before, 1, True)
    assert meta["rewritten_files"] == before and meta["dagster/row_count"] == 799
    assert data_files(maint) == 1
    source, iceberg, starrocks = layers(maint)
    assert source == iceberg == starrocks and len(source) == 799
    assert latest(maint)["operation"] == "replace"
    layer_checks = [dg.AssetCheckKey(dg.AssetKey([layer, DB, "dbo", "events"]), name) for layer, name in (
        ("iceberg", "row_count_matches_raw"), ("starrocks", "row_count_matches_iceberg"))]
    with e2e.environ(maint["env"]):
        checks = e2e.check_results(e2e.run_checks(maint["defs"], layer_checks, maint["instance"]))
    assert len(checks) == 2 and all(ev.passed for ev in checks.values()), checks

    change_and_run(maint, chain, (4, 5), 6)
    assert len(layers(maint)[0]) == 798
