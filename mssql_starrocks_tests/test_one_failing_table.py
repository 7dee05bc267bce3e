"""One failing table among many, through Dagster against the stand-ins, in the run the CLI makes
(the code location's executor at its default setting, executor.py): the other tables complete and every
one of their checks passes; the failure names the table and the step, and only that table's
later steps are skipped."""

from __future__ import annotations

import dagster as dg
import pymssql

from mssql_starrocks.defs.migration import executor
from mssql_starrocks_tests import e2e

DB = "failone"
TABLES = ("t1", "t2", "t3", "t4")
BROKEN = "t3"
ROWS = 20


def _mssql(devservers, database: str, statements: list[str]) -> None:
    conn = pymssql.connect(server=devservers["MSSQL_HOST"], port=int(devservers["MSSQL_PORT"]),
                           user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"],
                           database=database, autocommit=True, tds_version="7.4")
    try:
        cur = conn.cursor()
        for sql in statements:
            cur.execute(sql)
    finally:
        conn.close()


def test_one_failing_table_does_not_stop_the_others(devservers, spark, tmp_path):
    _mssql(devservers, "master", [f"CREATE DATABASE {DB}"])
    _mssql(devservers, DB, [stmt for t in TABLES for stmt in (
        f"CREATE TABLE dbo.{t} (id INT NOT NULL PRIMARY KEY, name NVARCHAR(20) NULL)",
        f"INSERT INTO dbo.{t} SELECT value, CONCAT(N'row ', value) FROM GENERATE_SERIES(1, {ROWS})")])
    tables_file = tmp_path / "tables.yaml"
    tables_file.write_text(f"version: 1\ndatabase: {DB}\ntables:\n"
                           + "".join(f"  - {{schema: dbo, name: {t}, key_columns: [id]}}\n" for t in TABLES))
    # The tables file still lists it, SQL Server no longer has it: its extract fails (permanent).
    _mssql(devservers, DB, [f"DROP TABLE dbo.{BROKEN}"])
    env = e2e.product_env(devservers, tmp_path, tables_file, MSSQL_STARROCKS_LOCK_DIR=str(tmp_path / "locks"))
    with e2e.environ(env):
        defs = e2e.load_definitions()
        job = defs.resolve_implicit_global_asset_job_def()
        keys = list(dg.AssetSelection.all().resolve(defs.resolve_asset_graph()))
        with dg.DagsterInstance.ephemeral() as instance:
            result = executor.execute_in_process(job, instance=instance, asset_selection=keys)

    assert not result.success
    mats = e2e.materializations(result)
    checks = e2e.check_results(result)
    healthy = [t for t in TABLES if t != BROKEN]
    for t in healthy:
        for layer in ("raw", "iceberg", "starrocks"):
            assert mats[f"{layer}/{DB}/dbo/{t}"]["dagster/row_count"] == ROWS, (layer, t)
        mine = {k: v for k, v in checks.items() if f"/{DB}/dbo/{t}:" in k}
        assert len(mine) == 5, mine  # three row counts, the source lag, the column profile
        assert all(v.passed for v in mine.values()), {k: v.description for k, v in mine.items() if not v.passed}
        assert e2e.starrocks_rows(devservers, f"SELECT COUNT(*) FROM `{DB}_dbo`.`{t}`")[0][0] == ROWS

    assert not any(f"/{DB}/dbo/{BROKEN}" in k for k in mats)
    assert not any(f"/{DB}/dbo/{BROKEN}:" in k for k in checks)
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1, [e.step_key for e in failures]
    message = failures[0].event_specific_data.error.message
    assert f"{DB}.dbo.{BROKEN}" in message and "[extract]" in message, message
    assert "no such table in SQL Server" in message, message
    # Only its extract started; its later steps and checks never ran. Nothing was retried.
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert {s for s in started if f"__{BROKEN}" in s} == {f"raw__{DB}__dbo__{BROKEN}"}
    assert len(started) == 1 + 6 * len(healthy)  # three assets and three check steps (five checks) per healthy table
    assert not [e.step_key for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
