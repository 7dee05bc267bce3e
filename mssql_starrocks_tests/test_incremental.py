"""Incremental and Change Tracking loads, deletes and schema changes, through Dagster, against the stand-ins.

After every run SQL Server, Iceberg and StarRocks must hold exactly the same rows (compared
row by row), and the extract must have read only the changed rows.
"""

from __future__ import annotations

import dagster as dg
import pytest

from mssql_starrocks_tests import e2e

README = e2e.ROOT / "README.md"

DB = "inc"
TABLES_YAML = f"""
version: 1
database: {DB}
tables:
  - schema: dbo
    name: items_rv
    load_mode: incremental
    key_columns: [id]
    watermark_column: rv
    delete_detection: true
  - schema: dbo
    name: items_dt
    load_mode: incremental
    key_columns: [id]
    watermark_column: modified
    lookback_seconds: 0
  - schema: dbo
    name: items_ct
    load_mode: change_tracking
    key_columns: [id]
  - schema: dbo
    name: del_off
    load_mode: incremental
    key_columns: [id]
    watermark_column: rv
  - schema: dbo
    name: del_on
    load_mode: incremental
    key_columns: [id]
    watermark_column: rv
    delete_detection: true
  - schema: dbo
    name: late_dt
    load_mode: incremental
    key_columns: [id]
    watermark_column: modified
    lookback_seconds: 600
"""


def sql(devservers, statement: str, database: str = DB):
    return e2e.mssql_rows(devservers, statement, database=database)


@pytest.fixture(scope="module")
def inc(devservers, tmp_path_factory, spark):
    work = tmp_path_factory.mktemp("inc")
    sql(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    sql(devservers, f"ALTER DATABASE [{DB}] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)",
        database="master")
    for table in ("items_rv", "items_dt", "items_ct"):
        sql(devservers, f"IF OBJECT_ID('dbo.{table}') IS NOT NULL DROP TABLE dbo.{table}")
    sql(devservers, "CREATE TABLE dbo.items_rv (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50), qty INT, rv ROWVERSION)")
    sql(devservers, "CREATE TABLE dbo.items_dt (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50), qty INT, "
                    "modified DATETIME2(3) NOT NULL)")
    sql(devservers, "CREATE TABLE dbo.items_ct (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50), qty INT)")
    sql(devservers, "ALTER TABLE dbo.items_ct ENABLE CHANGE_TRACKING")
    for i in range(1, 101):
        sql(devservers, f"INSERT INTO dbo.items_rv (id, name, qty) VALUES ({i}, N'item {i}', {i})")
        sql(devservers, f"INSERT INTO dbo.items_dt (id, name, qty, modified) VALUES ({i}, N'item {i}', {i}, "
                        f"DATEADD(SECOND, {i}, '2024-01-01'))")
        sql(devservers, f"INSERT INTO dbo.items_ct (id, name, qty) VALUES ({i}, N'item {i}', {i})")
    for table in ("del_off", "del_on", "late_dt"):
        sql(devservers, f"IF OBJECT_ID('dbo.{table}') IS NOT NULL DROP TABLE dbo.{table}")
    for table in ("del_off", "del_on"):
        sql(devservers, f"CREATE TABLE dbo.{table} (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50), qty INT, "
                        "rv ROWVERSION)")
        sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty) SELECT value, CONCAT(N'item ', value), value "
                        "FROM GENERATE_SERIES(1, 100)")
    # One row a minute from 00:01 to 01:40.
    sql(devservers, "CREATE TABLE dbo.late_dt (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50), qty INT, "
                    "modified DATETIME2(3) NOT NULL)")
    sql(devservers, "INSERT INTO dbo.late_dt (id, name, qty, modified) SELECT value, CONCAT(N'item ', value), value, "
                    "DATEADD(MINUTE, value, CAST('2024-01-01' AS DATETIME2(3))) FROM GENERATE_SERIES(1, 100)")
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    env = e2e.product_env(devservers, work, tables_file)
    with e2e.environ(env):
        defs = e2e.load_definitions()
    return {"env": env, "defs": defs, "instance": dg.DagsterInstance.ephemeral(), "devservers": devservers,
            "spark": spark, "work": work}


def run(inc, table: str, raise_on_error: bool = True):
    with e2e.environ(inc["env"]):
        return e2e.run_assets(inc["defs"], f"raw/{DB}/dbo/{table}*", inc["instance"], raise_on_error=raise_on_error)


def layers(inc, table: str):
    """(SQL Server rows, Iceberg rows, StarRocks rows) as sorted (id, name, qty) tuples."""
    source = sorted(tuple(r) for r in sql(inc["devservers"], f"SELECT id, name, qty FROM dbo.{table}"))
    iceberg = sorted(tuple(r) for r in inc["spark"].sql(
        f"SELECT id, name, qty FROM lake.{DB}_dbo.{table}").collect())
    starrocks = sorted(tuple(r) for r in e2e.starrocks_rows(
        inc["devservers"], f"SELECT id, name, qty FROM {DB}_dbo.{table}"))
    return source, iceberg, starrocks


def assert_same(inc, table: str):
    source, iceberg, starrocks = layers(inc, table)
    assert iceberg == source
    assert starrocks == source


@pytest.mark.parametrize("table,deletes_seen", [("items_rv", True), ("items_dt", False), ("items_ct", True)])
def test_inserts_updates_and_deletes_flow_and_only_changes_are_read(inc, table, deletes_seen):
    first = run(inc, table)
    mats = e2e.materializations(first)
    assert mats[f"raw/{DB}/dbo/{table}"]["extract_kind"] == "full"
    assert mats[f"raw/{DB}/dbo/{table}"]["dagster/row_count"] == 100
    assert all(c.passed for c in e2e.check_results(first).values())
    assert_same(inc, table)

    devservers = inc["devservers"]
    for i in range(101, 106):
        extra = ", modified" if table == "items_dt" else ""
        value = ", '2024-02-01'" if table == "items_dt" else ""
        sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty{extra}) VALUES ({i}, N'new {i}', {i}{value})")
    touch = ", modified = '2024-02-02'" if table == "items_dt" else ""
    sql(devservers, f"UPDATE dbo.{table} SET qty = qty + 1000{touch} WHERE id IN (1, 2, 3)")
    if deletes_seen:
        sql(devservers, f"DELETE FROM dbo.{table} WHERE id IN (50, 51)")

    second = run(inc, table)
    raw = e2e.materializations(second)[f"raw/{DB}/dbo/{table}"]
    assert raw["extract_kind"] == "delta"
    assert raw["dagster/row_count"] == 5 + 3 + (2 if deletes_seen else 0)
    sr = e2e.materializations(second)[f"starrocks/{DB}/dbo/{table}"]
    assert sr["load_kind"] == "delta"
    assert all(c.passed for c in e2e.check_results(second).values())
    assert_same(inc, table)

    # Nothing changed: nothing is read, nothing is loaded, still equal.
    third = run(inc, table)
    assert e2e.materializations(third)[f"raw/{DB}/dbo/{table}"]["dagster/row_count"] == 0
    assert_same(inc, table)


def test_schema_changes_are_carried_to_every_layer(inc):
    devservers = inc["devservers"]
    table = "items_rv"
    run(inc, table)
    sql(devservers, f"ALTER TABLE dbo.{table} ADD note NVARCHAR(20) NULL")
    sql(devservers, f"ALTER TABLE dbo.{table} ALTER COLUMN qty BIGINT")
    sql(devservers, f"UPDATE dbo.{table} SET note = N'noted', qty = 5000000000 WHERE id IN (4, 5)")
    result = run(inc, table)
    raw = e2e.materializations(result)[f"raw/{DB}/dbo/{table}"]
    assert any("added column note" in line for line in raw["schema_changes"])
    assert any("widened column qty" in line for line in raw["schema_changes"])
    assert e2e.starrocks_rows(devservers, f"SELECT note, qty FROM {DB}_dbo.{table} WHERE id = 4") == [("noted", 5000000000)]
    columns = dict(e2e.starrocks_rows(devservers, "SELECT column_name, column_type FROM information_schema.columns "
                                                  f"WHERE table_schema = '{DB}_dbo' AND table_name = '{table}'"))
    assert columns["qty"].lower().startswith("bigint")
    assert_same(inc, table)

    # Rename by drop and add: the old column stays on the targets with the values it last had
    # (it is no longer filled); the new column is filled.
    sql(devservers, f"ALTER TABLE dbo.{table} DROP COLUMN note")
    sql(devservers, f"ALTER TABLE dbo.{table} ADD remark NVARCHAR(20) NULL")
    sql(devservers, f"UPDATE dbo.{table} SET remark = N'moved' WHERE id = 4")
    result = run(inc, table)
    raw = e2e.materializations(result)[f"raw/{DB}/dbo/{table}"]
    assert any("column note" in line and "dropped" in line for line in raw["schema_changes"])
    assert e2e.starrocks_rows(devservers, f"SELECT id, note, remark FROM {DB}_dbo.{table} WHERE id IN (4, 5) "
                                          "ORDER BY id") == [(4, "noted", "moved"), (5, "noted", None)]
    assert_same(inc, table)


def test_incompatible_change_fails_cleanly_and_leaves_targets_as_they_were(inc):
    devservers = inc["devservers"]
    table = "items_dt"
    run(inc, table)
    before = layers(inc, table)
    sql(devservers, f"ALTER TABLE dbo.{table} ADD flag INT NULL")
    run(inc, table)
    sql(devservers, f"ALTER TABLE dbo.{table} DROP COLUMN flag")
    sql(devservers, f"ALTER TABLE dbo.{table} ADD flag NVARCHAR(10) NULL")
    sql(devservers, f"UPDATE dbo.{table} SET flag = N'x', modified = '2024-03-01' WHERE id = 7")
    result = run(inc, table, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert f"{DB}.dbo.{table}" in message and "column flag" in message and "INT" in message and "NVARCHAR(10)" in message
    source, iceberg, starrocks = layers(inc, table)
    assert iceberg == before[1] and starrocks == before[2]


def test_change_tracking_version_too_old_falls_back_to_a_full_reload(inc):
    """Retention purged the changes after the stored version: full reload, said in metadata."""
    devservers = inc["devservers"]
    table = "items_ct"
    run(inc, table)
    sql(devservers, f"UPDATE dbo.{table} SET qty = qty + 7 WHERE id = 10")
    sql(devservers, f"DELETE FROM dbo.{table} WHERE id = 11")
    sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty) VALUES (500, N'late', 1)")
    # What SQL Server's clean-up does after CHANGE_RETENTION: the minimum valid version passes
    # the version the targets hold (stand-in-only procedure, see docs/devservers.md).
    sql(devservers, f"EXEC sys.sp_devservers_expire_change_tracking N'dbo.{table}'")
    min_valid = sql(devservers, f"SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'dbo.{table}'))")[0][0]
    result = run(inc, table)
    mats = e2e.materializations(result)
    raw = mats[f"raw/{DB}/dbo/{table}"]
    assert raw["extract_kind"] == "full"
    assert "older than the minimum valid version" in raw["extract_reason"] and str(min_valid) in raw["extract_reason"]
    source_rows = sql(devservers, f"SELECT COUNT(*) FROM dbo.{table}")[0][0]
    assert raw["dagster/row_count"] == source_rows
    assert all(c.passed for c in e2e.check_results(result).values())
    assert_same(inc, table)  # the deleted row is gone from both targets, the update and insert are there
    # ... and the next run is incremental again.
    sql(devservers, f"UPDATE dbo.{table} SET qty = 1 WHERE id = 12")
    again = e2e.materializations(run(inc, table))[f"raw/{DB}/dbo/{table}"]
    assert (again["extract_kind"], again["dagster/row_count"]) == ("delta", 1)
    assert_same(inc, table)


# --- delete detection, look-back, where the state lives ------------------------------------------
def test_without_delete_detection_a_delete_in_sql_server_stays_on_the_targets(inc):
    """Off by default (as the README's "Load modes" says): the watermark never sees a deleted row."""
    devservers, table = inc["devservers"], "del_off"
    readme = " ".join(README.read_text(encoding="utf-8").split())
    assert ("Without `delete_detection` (the default) a row deleted in SQL Server stays in Iceberg and StarRocks"
            in readme)
    run(inc, table)
    assert_same(inc, table)
    deleted = sorted(tuple(r) for r in sql(devservers, f"SELECT id, name, qty FROM dbo.{table} WHERE id IN (10, 11)"))
    sql(devservers, f"DELETE FROM dbo.{table} WHERE id IN (10, 11)")
    sql(devservers, f"UPDATE dbo.{table} SET qty = qty + 1000 WHERE id = 12")
    sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty) VALUES (201, N'new', 201)")
    result = run(inc, table)
    raw = e2e.materializations(result)[f"raw/{DB}/dbo/{table}"]
    assert (raw["extract_kind"], raw["dagster/row_count"], raw["detected_deletes"]) == ("delta", 2, 0)
    source, iceberg, starrocks = layers(inc, table)
    assert (12, "item 12", 1012) in source and (201, "new", 201) in source
    assert iceberg == starrocks == sorted(source + deleted)  # the update and insert arrived; the delete did not
    # The Iceberg row count check warns about the difference.
    check = e2e.check_results(result)[f"iceberg/{DB}/dbo/{table}:row_count_matches_raw"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert f"sql_server_rows = {len(source)} but iceberg_rows = {len(source) + 2}" in check.description

    # Turning delete detection on later removes the rows deleted before (README: the first run with it on).
    tables_file = inc["work"] / "tables_delete_detection_on.yaml"
    tables_file.write_text(TABLES_YAML.replace("    name: del_off\n    load_mode: incremental\n    key_columns: [id]\n"
                                               "    watermark_column: rv\n",
                                               "    name: del_off\n    load_mode: incremental\n    key_columns: [id]\n"
                                               "    watermark_column: rv\n    delete_detection: true\n"))
    env = {**inc["env"], "MSSQL_STARROCKS_TABLES_FILE": str(tables_file)}
    with e2e.environ(env):
        defs = e2e.load_definitions()
        on = e2e.run_assets(defs, f"raw/{DB}/dbo/{table}*", inc["instance"])
    raw = e2e.materializations(on)[f"raw/{DB}/dbo/{table}"]
    assert (raw["extract_kind"], raw["dagster/row_count"], raw["detected_deletes"]) == ("delta", 2, 2)
    assert all(c.passed for c in e2e.check_results(on).values())
    assert_same(inc, table)


def test_with_delete_detection_deletes_reach_iceberg_and_starrocks_row_by_row(inc):
    devservers, table = inc["devservers"], "del_on"
    run(inc, table)
    assert_same(inc, table)
    sql(devservers, f"DELETE FROM dbo.{table} WHERE id IN (20, 21, 22)")
    sql(devservers, f"UPDATE dbo.{table} SET name = N'renamed' WHERE id = 23")
    sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty) VALUES (301, N'new', 301)")
    result = run(inc, table)
    mats = e2e.materializations(result)
    raw = mats[f"raw/{DB}/dbo/{table}"]
    # 2 changed rows read by the watermark + 3 keys found missing by the key-set comparison
    assert (raw["extract_kind"], raw["source_change_count"], raw["detected_deletes"], raw["dagster/row_count"]) == \
        ("delta", 2, 3, 5)
    assert mats[f"starrocks/{DB}/dbo/{table}"]["load_kind"] == "delta"
    assert all(c.passed for c in e2e.check_results(result).values())
    source, iceberg, starrocks = layers(inc, table)
    assert not {r[0] for r in source} & {20, 21, 22} and (23, "renamed", 23) in source
    assert iceberg == source and starrocks == source  # row by row, every column
    assert not e2e.starrocks_rows(devservers, f"SELECT id FROM {DB}_dbo.{table} WHERE id IN (20, 21, 22)")
    again = e2e.materializations(run(inc, table))[f"raw/{DB}/dbo/{table}"]
    assert (again["dagster/row_count"], again["detected_deletes"]) == (0, 0)
    assert_same(inc, table)


def test_a_late_row_inside_the_datetime_look_back_is_picked_up(inc):
    """lookback_seconds: 600. A row committed after the last run but stamped 5 minutes before its
    high mark is read; one stamped 20 minutes before is outside the window (and is not)."""
    devservers, table = inc["devservers"], "late_dt"
    first = e2e.materializations(run(inc, table))[f"raw/{DB}/dbo/{table}"]
    high = first["watermark"]
    assert high == sql(devservers, f"SELECT CONVERT(VARCHAR(26), MAX(modified), 121) FROM dbo.{table}")[0][0] + "000"
    sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty, modified) VALUES "
                    f"(501, N'late, inside', 1, DATEADD(MINUTE, -5, CAST('{high}' AS DATETIME2(3)))), "
                    f"(502, N'late, outside', 2, DATEADD(MINUTE, -20, CAST('{high}' AS DATETIME2(3))))")
    result = run(inc, table)
    raw = e2e.materializations(result)[f"raw/{DB}/dbo/{table}"]
    assert raw["extract_kind"] == "delta"
    assert raw["extract_reason"] == f"rows with modified in ({high} minus the 600 s look-back, {high}]"
    window = sql(devservers, f"SELECT COUNT(*) FROM dbo.{table} WHERE modified > DATEADD(SECOND, -600, "
                             f"CAST('{high}' AS DATETIME2(3))) AND modified <= CAST('{high}' AS DATETIME2(3))")[0][0]
    assert raw["dagster/row_count"] == window == 11  # the 10 rows of the last 10 minutes, re-read, and 501
    source, iceberg, starrocks = layers(inc, table)
    assert (501, "late, inside", 1) in iceberg and (501, "late, inside", 1) in starrocks
    assert iceberg == starrocks == [r for r in source if r[0] != 502]


def _summary(inc, table: str) -> dict[str, str]:
    from mssql_starrocks.lake import iceberg as ice

    return ice.current_snapshot(inc["spark"], f"lake.`{DB}_dbo`.`{table}`").summary


def test_the_watermark_and_change_tracking_version_are_in_the_snapshot_summary_and_in_dagit(inc):
    """The state a run reaches is committed with its rows (Iceberg snapshot summary) and shown on the
    raw and iceberg materializations, as SQL Server reported it."""
    devservers = inc["devservers"]
    cases = {
        "del_on": ("watermark", "SELECT CAST(MIN_ACTIVE_ROWVERSION() AS BIGINT) - 1"),
        # DATETIME2(3) in style 121, to the microsecond as the product writes it
        "late_dt": ("watermark", "SELECT CONCAT(CONVERT(VARCHAR(26), MAX(modified), 121), '000') FROM dbo.late_dt"),
        "items_ct": ("ct_version", "SELECT CHANGE_TRACKING_CURRENT_VERSION()"),
    }
    for table, (key, truth) in cases.items():
        run(inc, table)  # bring it up to date
        extra = ", modified" if table == "late_dt" else ""
        value = ", '2025-01-01'" if table == "late_dt" else ""
        sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty{extra}) VALUES (900, N'state', 9{value})")
        result = run(inc, table)
        expected = str(sql(devservers, truth)[0][0])
        entries = e2e.materialization_entries(result)
        raw, iceberg = entries[f"raw/{DB}/dbo/{table}"], entries[f"iceberg/{DB}/dbo/{table}"]
        assert raw["extract_kind"].value == "delta", table
        if table != "late_dt":  # (a datetime watermark re-reads its look-back window as well)
            assert raw["dagster/row_count"].value == 1, table
        for meta in (raw, iceberg):
            assert isinstance(meta[key], dg.TextMetadataValue) and meta[key].value == expected, (table, meta[key])
        summary = _summary(inc, table)
        assert summary[f"mssql_starrocks.{key}"] == expected, table
        assert summary["mssql_starrocks.kind"] == "delta"
        assert summary["mssql_starrocks.run_id"] == result.run_id
        assert int(iceberg["snapshot_id"].value) == int(e2e.materialization_entries(result)[
            f"starrocks/{DB}/dbo/{table}"]["iceberg_snapshot_id"].value)
        other = "ct_version" if key == "watermark" else "watermark"
        assert f"mssql_starrocks.{other}" not in summary and other not in raw
    # the rowversion watermark covers every row of the table
    top = sql(devservers, "SELECT MAX(CAST(rv AS BIGINT)) FROM dbo.del_on")[0][0]
    assert int(_summary(inc, "del_on")["mssql_starrocks.watermark"]) >= top
