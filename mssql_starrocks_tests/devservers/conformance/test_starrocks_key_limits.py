"""Primary Key tables: an encoded primary key value may not exceed 128 bytes (BE primary_key_limit_size)."""

from __future__ import annotations

import json

import pymysql
import pytest
import requests

from mssql_starrocks_tests.devservers.conformance import starrocks_client
from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect

DB = "cf_sr_keylimits"
PK_DOC = "https://docs.starrocks.io/docs/table_design/table_types/primary_key_table/"
LIMITS_DOC = "https://docs.starrocks.io/docs/reference/System_limit/"


def stream_load(devservers, table: str, body: bytes, **headers) -> dict:
    return starrocks_client.stream_load(devservers, DB, table, body, **headers)


@pytest.fixture(scope="module")
def db(devservers):
    conn = connect(devservers)
    cur = conn.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    cur.execute(f"CREATE DATABASE {DB}")
    cur.execute(f"CREATE TABLE {DB}.pk (k VARCHAR(1000) NOT NULL, v INT) PRIMARY KEY(k) DISTRIBUTED BY HASH(k)")
    cur.execute(f"CREATE TABLE {DB}.pk2 (a BIGINT NOT NULL, k VARCHAR(1000) NOT NULL, v INT) PRIMARY KEY(a, k) "
                "DISTRIBUTED BY HASH(a)")
    cur.execute(f"CREATE TABLE {DB}.dup (k VARCHAR(1000), v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k)")
    yield cur
    cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def count(cur, table: str, key: str | None = None) -> int:
    if key is None:
        cur.execute(f"SELECT COUNT(*) FROM {DB}.{table}")
    else:
        cur.execute(f"SELECT COUNT(*) FROM {DB}.{table} WHERE k = %s", (key,))
    return cur.fetchone()[0]


@pytest.mark.doc(PK_DOC)
@pytest.mark.parametrize("key", ["a" * 128, "€" * 42 + "ab"], ids=["128_ascii_bytes", "128_utf8_bytes"])
def test_key_of_128_bytes_loads(devservers, db, key):
    reply = stream_load(devservers, "pk", f"{key}\t1\n".encode(), column_separator="\\t")
    assert reply["Status"] == "Success", reply
    assert count(db, "pk", key) == 1


@pytest.mark.doc(PK_DOC)
@pytest.mark.parametrize("key", ["b" * 129, "€" * 43], ids=["129_ascii_bytes", "129_utf8_bytes_43_chars"])
def test_key_over_128_bytes_is_filtered(devservers, db, key):
    reply = stream_load(devservers, "pk", f"{key}\t1\n".encode())
    assert reply["Status"] == "Fail"
    assert reply["NumberFilteredRows"] == 1 and reply["NumberLoadedRows"] == 0
    log = requests.get(reply["ErrorURL"], timeout=10).text
    assert "primary key size exceed the limit" in log
    assert count(db, "pk", key) == 0


@pytest.mark.doc(PK_DOC)
def test_long_key_filtered_from_json_body_too(devservers, db):
    body = json.dumps([{"k": "c" * 200, "v": 1}, {"k": "short_json", "v": 2}]).encode()
    reply = stream_load(devservers, "pk", body, format="json", strip_outer_array="true", max_filter_ratio="0.5")
    assert reply["Status"] == "Success", reply
    assert (reply["NumberLoadedRows"], reply["NumberFilteredRows"]) == (1, 1)
    assert count(db, "pk", "short_json") == 1 and count(db, "pk", "c" * 200) == 0


@pytest.mark.doc(PK_DOC)
def test_composite_key_counts_every_column(devservers, db):
    # BIGINT (8 bytes) + the last string column as is: 8 + 120 = 128 loads, 8 + 121 does not.
    ok = stream_load(devservers, "pk2", f"1\t{'d' * 120}\t1\n".encode())
    assert ok["Status"] == "Success", ok
    too_long = stream_load(devservers, "pk2", f"2\t{'d' * 121}\t1\n".encode())
    assert too_long["Status"] == "Fail" and too_long["NumberFilteredRows"] == 1


@pytest.mark.doc(PK_DOC)
def test_insert_with_long_key_fails_and_writes_nothing(devservers, db):
    with pytest.raises(pymysql.MySQLError):
        db.execute(f"INSERT INTO {DB}.pk VALUES (%s, 1)", ("e" * 129,))
    assert count(db, "pk", "e" * 129) == 0


@pytest.mark.doc(PK_DOC)
def test_duplicate_key_table_has_no_key_size_limit(devservers, db):
    reply = stream_load(devservers, "dup", f"{'f' * 500}\t1\n".encode())
    assert reply["Status"] == "Success", reply
    assert count(db, "dup", "f" * 500) == 1


@pytest.mark.doc(LIMITS_DOC)
def test_key_columns_cannot_be_float_or_double(devservers, db):
    for kind in ("FLOAT", "DOUBLE"):
        with pytest.raises(pymysql.MySQLError):
            db.execute(f"CREATE TABLE {DB}.bad_{kind} (k {kind}, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(v)")
    db.execute(f"SHOW TABLES FROM {DB}")
    assert {r[0] for r in db.fetchall()} == {"pk", "pk2", "dup"}
