"""Edge values through real materializations, compared row by row on every layer (SQL Server
read natively, the Iceberg table read by pyiceberg, StarRocks over the MySQL protocol): empty
tables, columns holding only NULL, and the date-time extremes.

The date-time rule: StarRocks' DATETIME spans 0000-01-01 .. 9999-12-31 23:59:59.999999 and
SQL Server's DATETIME2 0001-01-01 .. 9999-12-31 23:59:59.9999999, so once the 7th fractional
digit is dropped (Iceberg and StarRocks keep microseconds) every value fits; only rounding that
digit instead of truncating it could push 9999-12-31 23:59:59.9999995 and above past year 9999.
Nothing is refused; the last test pins the truncation.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from mssql_starrocks_tests import e2e
from mssql_starrocks_tests.test_e2e import _normalise, expected_row
from mssql_starrocks_tests.test_faults import step_failures

DB = "edges"
TABLES = {
    "empty_t": "id INT NOT NULL PRIMARY KEY, name NVARCHAR(20), amount DECIMAL(10,2), at DATETIME2(3)",
    "empty_inc": "id INT NOT NULL PRIMARY KEY, name NVARCHAR(20), rv ROWVERSION",
    "nulls_t": "id INT NOT NULL PRIMARY KEY, filled NVARCHAR(10) NOT NULL, n_text NVARCHAR(50) NULL, n_int INT NULL, "
               "n_dec DECIMAL(38,10) NULL, n_dt DATETIME2(7) NULL, n_dto DATETIMEOFFSET(7) NULL, "
               "n_bin VARBINARY(16) NULL, n_bit BIT NULL, n_uid UNIQUEIDENTIFIER NULL",
    "datetimes_t": "id INT NOT NULL PRIMARY KEY, d7 DATETIME2(7) NULL, d0 DATETIME2(0) NULL, d3 DATETIME2(3) NULL, "
                   "dto DATETIMEOFFSET(7) NULL, dt DATETIME NULL, sdt SMALLDATETIME NULL, d DATE NULL",
}
DATETIMES = [  # id, DATETIME2(7), DATETIME2(0), DATETIME2(3), DATETIMEOFFSET(7), DATETIME, SMALLDATETIME, DATE
    (1, "0001-01-01 00:00:00", "0001-01-01 00:00:00", "0001-01-01 00:00:00", "0001-01-01 00:00:00 +00:00",
     "1753-01-01 00:00:00", "1900-01-01 00:00", "0001-01-01"),
    (2, "9999-12-31 23:59:59.999999", "9999-12-31 23:59:59", "9999-12-31 23:59:59.999",
     "9999-12-31 23:59:59.999999 +00:00", "9999-12-31 23:59:59.997", "2079-06-06 23:59", "9999-12-31"),
    (3, "1582-10-04 23:59:59.999999", "1582-10-04 23:59:59", "1582-10-15 00:00:00", "0001-01-01 14:00:00 +14:00",
     "1753-01-01 00:00:00.003", "1900-01-01 00:01", "1582-10-04"),
    (4, "1969-12-31 23:59:59.999999", "1970-01-01 00:00:00", "1969-12-31 23:59:59.999",
     "9999-12-31 09:59:59.999999 -14:00", "1969-12-31 23:59:59.997", "2079-06-06 00:00", "1970-01-01"),
    (5, "2024-02-29 12:00:00.000001", "2024-02-29 12:00:00", "2024-02-29 12:00:00.001",
     "2024-02-29 23:30:00.000001 +05:30", "2024-02-29 12:00:00", "2024-02-29 12:00", "2024-02-29"),
    (6, None, None, None, None, None, None, None),
]
TABLES_YAML = f"""
version: 1
database: {DB}
tables:
  - {{schema: dbo, name: empty_t, key_columns: [id]}}
  - {{schema: dbo, name: empty_inc, key_columns: [id], load_mode: incremental, watermark_column: rv}}
  - {{schema: dbo, name: nulls_t, key_columns: [id]}}
  - {{schema: dbo, name: datetimes_t, key_columns: [id]}}
"""


def sql(devservers, statement: str):
    return e2e.mssql_rows(devservers, statement, database=DB)


def literal(value) -> str:
    return "NULL" if value is None else f"'{value}'"


@pytest.fixture(scope="module")
def edges(devservers, tmp_path_factory, spark):
    work = tmp_path_factory.mktemp("edges")
    e2e.mssql_rows(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    for table, columns in TABLES.items():
        sql(devservers, f"IF OBJECT_ID('dbo.{table}') IS NOT NULL DROP TABLE dbo.{table}")
        sql(devservers, f"CREATE TABLE dbo.{table} ({columns})")
    sql(devservers, "INSERT INTO dbo.nulls_t (id, filled) SELECT value, CONCAT(N'r', value) FROM GENERATE_SERIES(1, 200)")
    sql(devservers, "INSERT INTO dbo.datetimes_t VALUES "
                    + ", ".join("(" + ", ".join([str(row[0])] + [literal(v) for v in row[1:]]) + ")" for row in DATETIMES))
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    env = e2e.product_env(devservers, work, tables_file, ICEBERG_SPARK_CATALOG_NAME="edgelake")
    with e2e.environ(env):
        defs = e2e.load_definitions()
    state = {"env": env, "defs": defs, "instance": dg.DagsterInstance.ephemeral(), "devservers": devservers,
             "work": work}
    state["result"] = run(state, "*")
    assert state["result"].success, step_failures(state["result"])
    return state


def run(state, selection: str):
    with e2e.environ(state["env"]):
        return e2e.run_assets(state["defs"], selection, state["instance"], raise_on_error=False)


def iceberg_table(state, table: str):
    from pyiceberg.catalog.sql import SqlCatalog

    root = state["work"] / "iceberg"
    catalog = SqlCatalog("edgelake", uri=f"sqlite:///{root / 'catalog.db'}", warehouse=(root / "warehouse").as_uri())
    return catalog.load_table(f"{DB}_dbo.{table}")


def every_layer(state, table: str) -> tuple[dict, dict, dict]:
    """id -> {target column: value} as SQL Server holds it after the documented mapping, as the
    Iceberg table holds it, and as StarRocks holds it."""
    from mssql_starrocks.mapping import schema as sch
    from mssql_starrocks.source.mssql import MssqlClient, MssqlSettings

    d = state["devservers"]
    client = MssqlClient(MssqlSettings(host=d["MSSQL_HOST"], port=int(d["MSSQL_PORT"]), database=DB,
                                       user=d["MSSQL_USER"], password=d["MSSQL_PASSWORD"], encrypt=False))
    columns = client.columns("dbo", table)
    names = [c.name for c in sch.build(f"{DB}.dbo.{table}", columns, key_columns=["id"]).data_columns]
    expected = {}
    for row in e2e.mssql_rows(d, f"SELECT * FROM dbo.{table}", database=DB):
        mapped = expected_row(columns, row)
        expected[mapped["id"]] = {n: mapped[n] for n in names}
    iceberg = {r["id"]: r for r in iceberg_table(state, table).scan(selected_fields=tuple(names)).to_arrow().to_pylist()}
    starrocks = {}
    for row in e2e.starrocks_rows(d, "SELECT " + ", ".join(f"`{n}`" for n in names) + f" FROM {DB}_dbo.{table}"):
        record = dict(zip(names, row))
        starrocks[record["id"]] = record
    return expected, iceberg, starrocks


def mismatches(expected: dict, got: dict, layer: str) -> list[str]:
    out = [f"{layer}: keys differ: {sorted(set(expected) ^ set(got))}"] if set(expected) != set(got) else []
    for key, want in expected.items():
        for name, value in want.items():
            if key in got and _normalise(got[key][name]) != _normalise(value):
                out.append(f"{layer} row {key} column {name}: SQL Server -> {value!r}, {layer} has {got[key][name]!r}")
    return out


def assert_every_layer_equal(state, table: str) -> dict:
    expected, iceberg, starrocks = every_layer(state, table)
    problems = mismatches(expected, iceberg, "Iceberg") + mismatches(expected, starrocks, "StarRocks")
    assert not problems, "\n".join(problems[:20])
    return expected


def checks_of(result, table: str) -> dict[str, bool]:
    return {k.rsplit(":", 1)[-1]: v.passed for k, v in e2e.check_results(result).items() if f"/{table}:" in k}


def test_an_empty_table_lands_as_an_empty_table_on_every_layer_and_its_checks_pass(edges):
    result = edges["result"]
    mats = e2e.materializations(result)
    for table in ("empty_t", "empty_inc"):
        assert [mats[f"{layer}/{DB}/dbo/{table}"]["dagster/row_count"] for layer in ("raw", "iceberg", "starrocks")] \
            == [0, 0, 0]
        snapshot = iceberg_table(edges, table).current_snapshot()
        assert snapshot is not None and snapshot.summary.additional_properties["mssql_starrocks.run_id"] == result.run_id
        assert assert_every_layer_equal(edges, table) == {}
        columns = e2e.starrocks_rows(edges["devservers"], "SELECT column_name FROM information_schema.columns "
                                     f"WHERE table_schema = '{DB}_dbo' AND table_name = '{table}'")
        assert {"id", "name", "_ingested_at"} <= {c[0] for c in columns}
        assert checks_of(result, table) and all(checks_of(result, table).values()), checks_of(result, table)
    # The first rows of a table that was empty arrive as a delta.
    sql(edges["devservers"], "INSERT INTO dbo.empty_inc (id, name) VALUES (1, N'first'), (2, NULL)")
    again = run(edges, f"raw/{DB}/dbo/empty_inc*")
    assert again.success, step_failures(again)
    assert e2e.materializations(again)[f"raw/{DB}/dbo/empty_inc"]["dagster/row_count"] == 2
    assert set(assert_every_layer_equal(edges, "empty_inc")) == {1, 2}


def test_columns_holding_only_null_are_carried_as_null_on_every_layer(edges):
    expected = assert_every_layer_equal(edges, "nulls_t")
    assert len(expected) == 200
    only_null = {n for n in next(iter(expected.values())) if n.startswith("n_")}
    assert only_null == {"n_text", "n_int", "n_dec", "n_dt", "n_dto", "n_dto_tz_offset_min", "n_bin", "n_bit", "n_uid"}
    assert all(row[n] is None for row in expected.values() for n in only_null)
    assert all(checks_of(edges["result"], "nulls_t").values())  # incl. the profile: non-null counts 0 = 0


def test_date_time_extremes_are_carried_exactly_on_every_layer(edges):
    expected = assert_every_layer_equal(edges, "datetimes_t")
    assert expected[2]["d7"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    assert expected[1]["d7"] == dt.datetime(1, 1, 1)
    assert expected[3]["dto"] == dt.datetime(1, 1, 1) and expected[3]["dto_tz_offset_min"] == 14 * 60
    assert expected[4]["dto"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999)


def test_the_7th_digit_of_datetime2_is_truncated_never_rounded_past_year_9999(edges, spark):
    """SQL Server's own text for DATETIME2(7) keeps all seven digits (the stand-in keeps six), so
    the extract must neither round in SQL Server (CAST to DATETIME2(6) overflows at the maximum)
    nor in Spark; this pins both halves on the maximum value and its neighbours."""
    from pyspark.sql import functions as F

    from mssql_starrocks.mapping import schema as sch
    from mssql_starrocks.mapping.typemap import SourceColumn

    plan = sch.build(f"{DB}.dbo.t", [SourceColumn(name="d7", data_type="datetime2", max_length=None, precision=None,
                                                  scale=7, nullable=True, ordinal=1)], key_columns=[])
    column = plan.column("d7")
    assert column.select_sql == "CONVERT(VARCHAR(27), [d7], 121)"  # SQL Server's full text, no rounding CAST
    assert (column.starrocks_type, column.note) == ("DATETIME", "7th fractional digit dropped")
    texts = ["9999-12-31 23:59:59.9999999", "9999-12-31 23:59:59.9999995", "2024-01-01 00:00:00.1234567",
             "0001-01-01 00:00:00.0000001"]
    landed = spark.createDataFrame([(t,) for t in texts], "d7 string").select(
        F.col("d7").cast(column.spark_type).alias("d7")).collect()  # the extract's cast of that text
    assert [r["d7"] for r in landed] == [dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
                                         dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
                                         dt.datetime(2024, 1, 1, 0, 0, 0, 123456), dt.datetime(1, 1, 1)]
