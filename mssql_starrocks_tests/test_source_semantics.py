"""The product against SQL Server semantics the stand-in now reproduces (docs/devservers.md,
conformance suite): Change Tracking of primary-key updates and TRUNCATE, rowversion reads next to
an open transaction, DATETIME2/TIME rounding, and splits under the case-insensitive collation.

Each test runs the table's chain through Dagster and compares SQL Server, Iceberg and StarRocks
row by row.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pymssql
import pytest

from mssql_starrocks_tests import e2e

DB = "semantics"
TABLES_YAML = f"""
version: 1
database: {DB}
tables:
  - {{schema: dbo, name: ct_pk, load_mode: change_tracking, key_columns: [id], starrocks: {{model: primary_key}}}}
  - {{schema: dbo, name: ct_trunc, load_mode: change_tracking, key_columns: [id], starrocks: {{model: primary_key}}}}
  - schema: dbo
    name: rv_open
    load_mode: incremental
    key_columns: [id]
    watermark_column: rv
    starrocks: {{model: primary_key}}
  - {{schema: dbo, name: rounding, key_columns: [id]}}
  - {{schema: dbo, name: ci_key, key_columns: [k], extract: {{num_partitions: 4}}}}
  - {{schema: dbo, name: ci_composite, key_columns: [a, b], extract: {{num_partitions: 3}}}}
  - {{schema: dbo, name: long_key, key_columns: [k], starrocks: {{model: primary_key}}}}
"""

# Mixed case, sorted differently by SQL Server's CI collation and by Python/binary order.
MIXED = [(c.upper() if i % 2 else c) * (1 + i // 26) for i, c in enumerate("abcdefghijklmnopqrstuvwxyz" * 3)]


def sql(devservers, statement: str, database: str = DB):
    return e2e.mssql_rows(devservers, statement, database=database)


@pytest.fixture(scope="module")
def sem(devservers, tmp_path_factory, spark):
    work = tmp_path_factory.mktemp("semantics")
    sql(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    sql(devservers, f"ALTER DATABASE [{DB}] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)",
        database="master")
    for table in ("ct_pk", "ct_trunc", "rv_open", "rounding", "ci_key", "ci_composite", "long_key"):
        sql(devservers, f"IF OBJECT_ID('dbo.{table}') IS NOT NULL DROP TABLE dbo.{table}")
    for table in ("ct_pk", "ct_trunc"):
        sql(devservers, f"CREATE TABLE dbo.{table} (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50), qty INT)")
        sql(devservers, f"ALTER TABLE dbo.{table} ENABLE CHANGE_TRACKING")
        sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty) SELECT value, CONCAT(N'item ', value), value "
                        "FROM GENERATE_SERIES(1, 20)")
    sql(devservers, "CREATE TABLE dbo.rv_open (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50), qty INT, rv ROWVERSION)")
    sql(devservers, "INSERT INTO dbo.rv_open (id, name, qty) SELECT value, CONCAT(N'item ', value), value "
                    "FROM GENERATE_SERIES(1, 20)")
    sql(devservers, "CREATE TABLE dbo.rounding (id INT NOT NULL PRIMARY KEY, d0 DATETIME2(0), t0 TIME(0), "
                    "d3 DATETIME2(3))")
    sql(devservers, "INSERT INTO dbo.rounding VALUES "
                    "(1, '2024-01-01 10:00:00.5', '10:00:00.5', '2024-01-01 10:00:00.1235'), "
                    "(2, '2024-12-31 23:59:59.5', '10:59:59.7', '2024-01-01 10:00:00.1234'), "
                    "(3, '2024-01-01 10:00:00.4', '10:00:00.49', '2024-12-31 23:59:59.9996')")
    sql(devservers, "CREATE TABLE dbo.ci_key (k VARCHAR(10) NOT NULL PRIMARY KEY, v INT)")
    sql(devservers, "INSERT INTO dbo.ci_key VALUES " + ", ".join(f"('{k}', {i})" for i, k in enumerate(MIXED)))
    sql(devservers, "CREATE TABLE dbo.ci_composite (a VARCHAR(10) NOT NULL, b NVARCHAR(10) NOT NULL, v INT, "
                    "PRIMARY KEY (a, b))")
    sql(devservers, "INSERT INTO dbo.ci_composite VALUES " + ", ".join(
        f"('{k}', N'{k[::-1].swapcase()}{j}', {i * 10 + j})" for i, k in enumerate(MIXED) for j in range(2)))
    sql(devservers, "CREATE TABLE dbo.long_key (k NVARCHAR(100) NOT NULL PRIMARY KEY, v INT)")
    sql(devservers, "INSERT INTO dbo.long_key VALUES (N'short', 1), (N'" + "中" * 42 + "', 2)")  # 126 bytes
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    env = e2e.product_env(devservers, work, tables_file)
    with e2e.environ(env):
        defs = e2e.load_definitions()
    return {"env": env, "defs": defs, "instance": dg.DagsterInstance.ephemeral(), "devservers": devservers,
            "spark": spark, "work": work}


def run(sem, table: str, raise_on_error: bool = True):
    with e2e.environ(sem["env"]):
        return e2e.run_assets(sem["defs"], f"raw/{DB}/dbo/{table}*", sem["instance"], raise_on_error=raise_on_error)


def layers(sem, table: str, columns: str = "id, name, qty"):
    """(SQL Server rows, Iceberg rows, StarRocks rows), each a sorted list of tuples."""
    source = sorted(tuple(r) for r in sql(sem["devservers"], f"SELECT {columns} FROM dbo.{table}"))
    iceberg = sorted(tuple(r) for r in sem["spark"].sql(f"SELECT {columns} FROM lake.{DB}_dbo.{table}").collect())
    starrocks = sorted(tuple(r) for r in e2e.starrocks_rows(sem["devservers"],
                                                            f"SELECT {columns} FROM {DB}_dbo.{table}"))
    return source, iceberg, starrocks


def assert_same(sem, table: str, columns: str = "id, name, qty"):
    source, iceberg, starrocks = layers(sem, table, columns)
    assert iceberg == source
    assert starrocks == source
    return source


def passed(result) -> bool:
    return all(c.passed for c in e2e.check_results(result).values())


# --- a. Change Tracking: an update of a primary key value ---------------------------------------
def test_change_tracking_primary_key_update_moves_the_row(sem):
    devservers, table = sem["devservers"], "ct_pk"
    run(sem, table)
    assert_same(sem, table)
    sql(devservers, f"UPDATE dbo.{table} SET id = 1005, qty = 55 WHERE id = 5")
    result = run(sem, table)
    raw = e2e.materializations(result)[f"raw/{DB}/dbo/{table}"]
    assert raw["extract_kind"] == "delta"
    assert passed(result)
    source = assert_same(sem, table)
    assert (1005, "item 5", 55) in source and not [r for r in source if r[0] == 5]
    assert not e2e.starrocks_rows(devservers, f"SELECT id FROM {DB}_dbo.{table} WHERE id = 5")
    assert e2e.starrocks_rows(devservers, f"SELECT id, name, qty FROM {DB}_dbo.{table} WHERE id = 1005") == \
        [(1005, "item 5", 55)]
    assert not sem["spark"].sql(f"SELECT id FROM lake.{DB}_dbo.{table} WHERE id = 5").collect()


# --- b. Change Tracking: TRUNCATE TABLE, then inserts ---------------------------------------------
def test_change_tracking_truncate_then_inserts_is_a_full_reload(sem):
    devservers, table = sem["devservers"], "ct_trunc"
    run(sem, table)
    assert len(assert_same(sem, table)) == 20
    sql(devservers, f"TRUNCATE TABLE dbo.{table}")
    sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty) VALUES (101, N'after', 1), (102, N'truncate', 2), "
                    "(3, N'reused key', 3)")
    result = run(sem, table)
    raw = e2e.materializations(result)[f"raw/{DB}/dbo/{table}"]
    assert raw["extract_kind"] == "full"
    assert "minimum valid version" in raw["extract_reason"] and "full reload" in raw["extract_reason"]
    assert raw["dagster/row_count"] == 3
    assert passed(result)
    assert assert_same(sem, table) == [(3, "reused key", 3), (101, "after", 1), (102, "truncate", 2)]
    # ... and the next run is a delta again.
    sql(devservers, f"UPDATE dbo.{table} SET qty = 7 WHERE id = 101")
    again = e2e.materializations(run(sem, table))[f"raw/{DB}/dbo/{table}"]
    assert (again["extract_kind"], again["dagster/row_count"]) == ("delta", 1)
    assert assert_same(sem, table) == [(3, "reused key", 3), (101, "after", 7), (102, "truncate", 2)]


# --- c. rowversion watermark next to a transaction left open --------------------------------------
def test_rowversion_run_skips_an_open_transaction_and_the_next_run_reads_it(sem):
    devservers, table = sem["devservers"], "rv_open"
    run(sem, table)
    before = assert_same(sem, table)
    writer = pymssql.connect(server=devservers["MSSQL_HOST"], port=devservers["MSSQL_PORT"],
                             user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"], database=DB,
                             autocommit=True, tds_version="7.4")
    try:
        cur = writer.cursor()
        cur.execute(f"BEGIN TRAN; INSERT INTO dbo.{table} (id, name, qty) VALUES (21, N'open', 21); "
                    f"UPDATE dbo.{table} SET qty = 1000 WHERE id = 7")
        result = run(sem, table)
        raw = e2e.materializations(result)[f"raw/{DB}/dbo/{table}"]
        assert raw["dagster/row_count"] == 0  # nothing committed after the last run
        assert passed(result)
        # The run saw only committed rows: the open transaction's insert and update are not there.
        assert assert_same(sem, table) == before
        cur.execute("COMMIT")
    finally:
        writer.close()
    result = run(sem, table)
    raw = e2e.materializations(result)[f"raw/{DB}/dbo/{table}"]
    assert (raw["extract_kind"], raw["dagster/row_count"]) == ("delta", 2)
    assert passed(result)
    after = assert_same(sem, table)
    assert (21, "open", 21) in after and (7, "item 7", 1000) in after and len(after) == 21
    iceberg_ids = [r[0] for r in sem["spark"].sql(f"SELECT id FROM lake.{DB}_dbo.{table}").collect()]
    assert len(iceberg_ids) == len(set(iceberg_ids)) == 21  # none doubled


# --- d. DATETIME2(0) / TIME(0) / DATETIME2(3) as SQL Server rounded them -------------------------
def test_fractional_seconds_arrive_as_sql_server_rounded_them(sem):
    devservers, table = sem["devservers"], "rounding"
    result = run(sem, table)
    assert passed(result)
    expected = [
        (1, dt.datetime(2024, 1, 1, 10, 0, 1), "10:00:01", dt.datetime(2024, 1, 1, 10, 0, 0, 124000)),
        (2, dt.datetime(2025, 1, 1, 0, 0, 0), "11:00:00", dt.datetime(2024, 1, 1, 10, 0, 0, 123000)),
        (3, dt.datetime(2024, 1, 1, 10, 0, 0), "10:00:00", dt.datetime(2025, 1, 1, 0, 0, 0)),
    ]
    source = sorted(tuple(r) for r in sql(devservers, f"SELECT id, d0, t0, d3 FROM dbo.{table}"))
    assert source == [(i, d0, dt.time.fromisoformat(t0), d3) for i, d0, t0, d3 in expected]  # SQL Server's rounding
    us = "yyyy-MM-dd HH:mm:ss.SSSSSS"  # the session time zone is UTC; compare as text, not as local datetimes
    iceberg = sorted(tuple(r) for r in sem["spark"].sql(
        f"SELECT id, date_format(d0, '{us}'), t0, date_format(d3, '{us}') FROM lake.{DB}_dbo.{table}").collect())
    assert iceberg == [(i, f"{d0:%Y-%m-%d %H:%M:%S.%f}", t0, f"{d3:%Y-%m-%d %H:%M:%S.%f}")
                       for i, d0, t0, d3 in expected]
    starrocks = sorted(tuple(r) for r in e2e.starrocks_rows(devservers, f"SELECT id, d0, t0, d3 FROM {DB}_dbo.{table}"))
    assert starrocks == expected


# --- e. splits under the case-insensitive collation -----------------------------------------------
def test_a_mixed_case_string_key_split_in_several_ranges_arrives_complete(sem):
    table = "ci_key"
    result = run(sem, table)
    raw = e2e.materializations(result)[f"raw/{DB}/dbo/{table}"]
    assert raw["splits"] == 4 and raw["split_column"] == "k"
    assert raw["dagster/row_count"] == len(MIXED)
    assert passed(result)
    source = assert_same(sem, table, "k, v")
    assert len(source) == len(MIXED) and sorted(r[0] for r in source) == sorted(MIXED)


def test_a_composite_string_key_is_split_by_checksum_and_arrives_complete(sem):
    table = "ci_composite"
    result = run(sem, table)
    raw = e2e.materializations(result)[f"raw/{DB}/dbo/{table}"]
    assert (raw["splits"], raw["split_method"]) == (3, "checksum")
    assert raw["dagster/row_count"] == 2 * len(MIXED)
    assert passed(result)
    source = assert_same(sem, table, "a, b, v")
    assert len(source) == 2 * len(MIXED) == len({(r[0], r[1]) for r in source})


# --- StarRocks' 128-byte primary key limit ---------------------------------------------------------
def test_a_primary_key_over_128_bytes_fails_the_starrocks_step_by_name_and_changes_nothing(sem):
    devservers, table = sem["devservers"], "long_key"
    # NVARCHAR(100) -> VARCHAR(300): values of the same declared type that fit 128 bytes load.
    first = run(sem, table)
    assert passed(first)
    before = assert_same(sem, table, "k, v")
    assert len(before[1][0].encode()) == 126
    sql(devservers, "INSERT INTO dbo.long_key VALUES (N'" + "\u4e2d" * 50 + "', 3)")  # 150 UTF-8 bytes
    result = run(sem, table, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1 and not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert failures[0].step_key.startswith("starrocks")
    message = failures[0].event_specific_data.error.message
    assert f"table {DB}.dbo.{table}" in message and "k (NVARCHAR(100) -> VARCHAR(300))" in message
    assert "the longest is 150 bytes" in message and "limit of 128 bytes" in message
    assert "shorter key" in message and "starrocks: {model: duplicate}" in message
    assert "StarRocks was not changed" in message
    # Iceberg holds the new row; StarRocks is as it was, and has no staging table left.
    iceberg = sorted(tuple(r) for r in sem["spark"].sql(f"SELECT k, v FROM lake.{DB}_dbo.{table}").collect())
    assert len(iceberg) == 3
    assert sorted(tuple(r) for r in e2e.starrocks_rows(devservers, f"SELECT k, v FROM {DB}_dbo.{table}")) == before
    assert [r[0] for r in e2e.starrocks_rows(devservers, f"SHOW TABLES FROM {DB}_dbo")
            if r[0].startswith(table)] == [table]
    # Back under the limit, the table loads again.
    sql(devservers, "DELETE FROM dbo.long_key WHERE v = 3")
    assert passed(run(sem, table))
    assert assert_same(sem, table, "k, v") == before


def test_plan_warns_when_a_declared_primary_key_can_exceed_128_bytes(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from mssql_starrocks import cli

    tables_file = tmp_path / "tables.yaml"
    tables_file.write_text(f"""
version: 1
database: {DB}
tables:
  - schema: dbo
    name: wide
    key_columns: [k]
    starrocks: {{model: primary_key}}
    columns: [{{name: k, type: nvarchar, max_length: 100, nullable: false}}, {{name: v, type: int}}]
  - schema: dbo
    name: narrow
    key_columns: [k]
    starrocks: {{model: primary_key}}
    columns: [{{name: k, type: nvarchar, max_length: 40, nullable: false}}, {{name: v, type: int}}]
""")
    monkeypatch.setenv("MSSQL_STARROCKS_TABLES_FILE", str(tables_file))
    wide = CliRunner().invoke(cli.main, ["plan", "dbo.wide"])
    assert wide.exit_code == 0, wide.output
    warning = [line for line in wide.stderr.splitlines() if line.startswith("warning:")]
    assert warning == [
        f"warning: table {DB}.dbo.wide: the primary key (k NVARCHAR(100) -> VARCHAR(300)) can take up to 300 bytes "
        "in StarRocks, over its limit of 128 bytes per key value; a row whose key is longer fails the StarRocks step "
        "before anything is written. Fine if the values are short; else use a shorter key, or (load_mode full) "
        "starrocks: {model: duplicate}"]
    narrow = CliRunner().invoke(cli.main, ["plan", "dbo.narrow"])  # 120 bytes at most: no warning
    assert narrow.exit_code == 0 and "warning" not in narrow.stderr
