"""datetime2(n), time(n) and datetimeoffset(n) round a value to their declared fractional
precision (they do not truncate it)."""

from __future__ import annotations

import datetime as dt

import pytest

from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import demo_database, one  # noqa: F401

DATETIME2 = "https://learn.microsoft.com/en-us/sql/t-sql/data-types/datetime2-transact-sql"
TIME = "https://learn.microsoft.com/en-us/sql/t-sql/data-types/time-transact-sql"
DTO = "https://learn.microsoft.com/en-us/sql/t-sql/data-types/datetimeoffset-transact-sql"
CAST = "https://learn.microsoft.com/en-us/sql/t-sql/functions/cast-and-convert-transact-sql"


@pytest.fixture
def times(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_round_1 (id INT PRIMARY KEY, d0 DATETIME2(0), d2 DATETIME2(2), d3 DATETIME2(3), "
                "t0 TIME(0), t1 TIME(1), o0 DATETIMEOFFSET(0))")
    yield cur
    cur.execute("DROP TABLE conf_round_1")


@pytest.mark.doc(DATETIME2)
@pytest.mark.parametrize("column,text,expected", [
    ("d0", "2024-05-06 10:20:30.5", dt.datetime(2024, 5, 6, 10, 20, 31)),
    ("d0", "2024-05-06 10:20:30.4", dt.datetime(2024, 5, 6, 10, 20, 30)),
    ("d0", "2024-12-31 23:59:59.7", dt.datetime(2025, 1, 1, 0, 0, 0)),
    ("d2", "2024-05-06 10:20:30.125", dt.datetime(2024, 5, 6, 10, 20, 30, 130000)),
    ("d2", "2024-05-06 10:20:30.124", dt.datetime(2024, 5, 6, 10, 20, 30, 120000)),
    ("d3", "2024-05-06 10:20:30.1235", dt.datetime(2024, 5, 6, 10, 20, 30, 124000)),
])
def test_datetime2_rounds_to_its_precision(times, mssql, column, text, expected):
    times.execute(f"INSERT INTO conf_round_1 (id, {column}) VALUES (1, '{text}')")
    assert one(mssql, f"SELECT {column} FROM conf_round_1") == expected


@pytest.mark.doc(TIME)
@pytest.mark.parametrize("column,text,expected", [
    ("t0", "10:20:30.6", dt.time(10, 20, 31)),
    ("t0", "10:20:30.2", dt.time(10, 20, 30)),
    ("t1", "10:20:30.06", dt.time(10, 20, 30, 100000)),
])
def test_time_rounds_to_its_precision(times, mssql, column, text, expected):
    times.execute(f"INSERT INTO conf_round_1 (id, {column}) VALUES (1, '{text}')")
    assert one(mssql, f"SELECT {column} FROM conf_round_1") == expected


@pytest.mark.doc(DTO)
def test_datetimeoffset_rounds_to_its_precision(times, mssql):
    times.execute("INSERT INTO conf_round_1 (id, o0) VALUES (1, '2024-05-06 10:20:30.5 +02:00')")
    value = one(mssql, "SELECT CONVERT(VARCHAR(40), o0) FROM conf_round_1")
    assert value == "2024-05-06 10:20:31 +02:00"


@pytest.mark.doc(CAST)
def test_cast_to_datetime2_rounds(mssql):
    assert one(mssql, "SELECT CAST('2024-05-06 10:20:30.5' AS DATETIME2(0))") == dt.datetime(2024, 5, 6, 10, 20, 31)


@pytest.mark.doc(CAST)
def test_cast_to_time_rounds(mssql):
    assert one(mssql, "SELECT CAST('10:20:30.75' AS TIME(1))") == dt.time(10, 20, 30, 800000)
