"""Column types: VARCHAR counts UTF-8 bytes up to 1048576, CHAR up to 255, DECIMAL up to 38 digits,
DATETIME, JSON validity, integer ranges."""

from __future__ import annotations

import datetime as dt
import decimal

import pymysql
import pytest

from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect, stream_load

DB = "cf_sr_types"
DOCS = "https://docs.starrocks.io/docs/sql-reference/data-types"
VARCHAR = f"{DOCS}/string-type/VARCHAR/"
CHAR = f"{DOCS}/string-type/CHAR/"
DECIMAL = f"{DOCS}/numeric/DECIMAL/"
DATETIME = f"{DOCS}/date-types/DATETIME/"
TINYINT = f"{DOCS}/numeric/TINYINT/"
JSON_DOC = f"{DOCS}/semi_structured/JSON/"
STRICT = "https://docs.starrocks.io/docs/loading/load_concept/strict_mode/"


@pytest.fixture(scope="module")
def cur(devservers):
    conn = connect(devservers)
    c = conn.cursor()
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    c.execute(f"CREATE DATABASE {DB}")
    c.execute(f"USE {DB}")
    c.execute("CREATE TABLE t (id INT, s VARCHAR(5), d DECIMAL(38,10), ts DATETIME, j JSON, ti TINYINT, "
              "st STRING, li LARGEINT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def load(devservers, table: str, body: bytes, **headers) -> dict:
    return stream_load(devservers, DB, table, body, **headers)


def one(cur, sql: str, params=None):
    cur.execute(sql, params)
    return cur.fetchone()


@pytest.mark.doc(VARCHAR)
def test_varchar_length_is_in_bytes(cur):
    cur.execute("INSERT INTO t (id, s) VALUES (1, 'éé')")  # 4 bytes
    with pytest.raises(pymysql.MySQLError):
        cur.execute("INSERT INTO t (id, s) VALUES (2, 'ééé')")  # 6 bytes > 5
    assert one(cur, "SELECT COUNT(*) FROM t WHERE id = 2") == (0,)


@pytest.mark.doc(VARCHAR)
def test_varchar_maximum_length(cur):
    cur.execute("CREATE TABLE vmax (id INT, s VARCHAR(1048576)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    with pytest.raises(pymysql.MySQLError):
        cur.execute("CREATE TABLE vover (id INT, s VARCHAR(1048577)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")


@pytest.mark.doc(f"{DOCS}/string-type/STRING/")
def test_string_is_varchar_65533(cur):
    assert one(cur, "SELECT column_type FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = 't' AND column_name = 'st'", (DB,)) == ("varchar(65533)",)


@pytest.mark.doc(CHAR)
def test_char_maximum_length_is_255(cur):
    cur.execute("CREATE TABLE cmax (id INT, c CHAR(255)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    with pytest.raises(pymysql.MySQLError):
        cur.execute("CREATE TABLE cover (id INT, c CHAR(256)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")


@pytest.mark.doc(DECIMAL)
def test_decimal_precision_up_to_38(cur):
    with pytest.raises(pymysql.MySQLError):
        cur.execute("CREATE TABLE dover (id INT, d DECIMAL(39,2)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    cur.execute("INSERT INTO t (id, d) VALUES (3, '1234567890123456789012345678.0123456789')")
    assert one(cur, "SELECT d FROM t WHERE id = 3") == (decimal.Decimal("1234567890123456789012345678.0123456789"),)


@pytest.mark.doc(DECIMAL)
def test_decimal_scale_cannot_exceed_precision(cur):
    with pytest.raises(pymysql.MySQLError):
        cur.execute("CREATE TABLE dscale (id INT, d DECIMAL(5,6)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")


@pytest.mark.doc(DECIMAL)
def test_decimal_overflow_is_refused(cur):
    with pytest.raises(pymysql.MySQLError):
        cur.execute("INSERT INTO t (id, d) VALUES (4, '123456789012345678901234567890')")  # 30 integer digits > 28


@pytest.mark.doc(DATETIME)
def test_datetime_keeps_microseconds(cur):
    cur.execute("INSERT INTO t (id, ts) VALUES (5, '2024-02-29 23:59:58.123456')")
    assert one(cur, "SELECT ts FROM t WHERE id = 5") == (dt.datetime(2024, 2, 29, 23, 59, 58, 123456),)


@pytest.mark.doc(DATETIME)
def test_invalid_datetime_is_filtered_in_strict_mode(devservers, cur):
    reply = load(devservers, "t", b"6\t\\N\t\\N\t2023-02-30 00:00:00\t\\N\t\\N\t\\N\t\\N\n", strict_mode="true")
    assert reply["Status"] == "Fail" and reply["NumberFilteredRows"] == 1


@pytest.mark.doc(TINYINT)
def test_tinyint_range_is_signed_byte(devservers, cur):
    ok = load(devservers, "t", b"7\t\\N\t\\N\t\\N\t\\N\t-128\t\\N\t\\N\n8\t\\N\t\\N\t\\N\t\\N\t127\t\\N\t\\N\n",
              strict_mode="true")
    assert ok["Status"] == "Success", ok
    bad = load(devservers, "t", b"9\t\\N\t\\N\t\\N\t\\N\t128\t\\N\t\\N\n", strict_mode="true")
    assert bad["Status"] == "Fail" and bad["NumberFilteredRows"] == 1


@pytest.mark.doc(f"{DOCS}/numeric/LARGEINT/")
def test_largeint_holds_128_bit_values(cur):
    cur.execute("INSERT INTO t (id, li) VALUES (10, '170141183460469231731687303715884105727')")
    assert str(one(cur, "SELECT li FROM t WHERE id = 10")[0]) == "170141183460469231731687303715884105727"


@pytest.mark.doc(JSON_DOC)
def test_valid_json_loads(devservers, cur):
    reply = load(devservers, "t", b'11\t\\N\t\\N\t\\N\t{"a": [1, 2]}\t\\N\t\\N\t\\N\n', strict_mode="true")
    assert reply["Status"] == "Success", reply
    assert one(cur, "SELECT COUNT(*) FROM t WHERE id = 11") == (1,)


@pytest.mark.doc(STRICT)
def test_invalid_json_is_filtered_in_strict_mode(devservers, cur):
    reply = load(devservers, "t", b"12\t\\N\t\\N\t\\N\t{not json\t\\N\t\\N\t\\N\n", strict_mode="true")
    assert reply["Status"] == "Fail" and reply["NumberFilteredRows"] == 1
    assert one(cur, "SELECT COUNT(*) FROM t WHERE id = 12") == (0,)


@pytest.mark.doc(STRICT)
def test_invalid_json_is_null_without_strict_mode(devservers, cur):
    reply = load(devservers, "t", b"13\t\\N\t\\N\t\\N\t{not json\t\\N\t\\N\t\\N\n", strict_mode="false")
    assert reply["Status"] == "Success", reply
    assert one(cur, "SELECT j IS NULL FROM t WHERE id = 13") in ((1,), (True,))


@pytest.mark.doc(JSON_DOC)
def test_insert_of_invalid_json_is_refused(cur):
    with pytest.raises(pymysql.MySQLError):
        cur.execute("INSERT INTO t (id, j) VALUES (14, '{broken')")
    assert one(cur, "SELECT COUNT(*) FROM t WHERE id = 14") == (0,)


@pytest.mark.doc(VARCHAR)
def test_varchar_and_char_default_to_one_byte(cur):
    cur.execute("CREATE TABLE deflen (id INT, v VARCHAR, c CHAR) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    cur.execute("SELECT column_name, column_type FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = 'deflen' ORDER BY ordinal_position", (DB,))
    assert [tuple(r) for r in cur.fetchall()][1:] == [("v", "varchar(1)"), ("c", "char(1)")]


@pytest.mark.doc("https://docs.starrocks.io/docs/sql-reference/sql-statements/table_bucket_part_index/CREATE_TABLE/")
def test_unknown_column_type_is_refused(cur):
    with pytest.raises(pymysql.MySQLError):
        cur.execute("CREATE TABLE badtype (id INT, m MONEY) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
