"""Stream Load semantics: strict_mode, max_filter_ratio, the columns header, __op upsert/delete and
partial updates on Primary Key tables."""

from __future__ import annotations

import json

import pytest

from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect, stream_load

DB = "cf_sr_slsem"
SL = "https://docs.starrocks.io/docs/sql-reference/sql-statements/loading_unloading/STREAM_LOAD/"
STRICT = "https://docs.starrocks.io/docs/loading/load_concept/strict_mode/"
PKLOAD = "https://docs.starrocks.io/docs/3.3/loading/Load_to_Primary_Key_tables/"


@pytest.fixture(scope="module")
def cur(devservers):
    conn = connect(devservers)
    c = conn.cursor()
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    c.execute(f"CREATE DATABASE {DB}")
    c.execute(f"USE {DB}")
    c.execute("CREATE TABLE d (id INT NOT NULL, n INT, s VARCHAR(10)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    c.execute("CREATE TABLE p (id INT NOT NULL, name VARCHAR(20), score INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(id)")
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def load(devservers, table: str, body: bytes, **headers) -> dict:
    return stream_load(devservers, DB, table, body, **headers)


def rows(cur, sql: str):
    cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


@pytest.mark.doc(STRICT)
def test_strict_mode_filters_an_unconvertible_value(devservers, cur):
    reply = load(devservers, "d", b"1\tabc\tx\n", strict_mode="true")
    assert reply["Status"] == "Fail" and reply["NumberFilteredRows"] == 1
    assert rows(cur, "SELECT COUNT(*) FROM d WHERE id = 1") == [(0,)]


@pytest.mark.doc(STRICT)
def test_without_strict_mode_an_unconvertible_value_is_null(devservers, cur):
    reply = load(devservers, "d", b"2\tabc\tx\n", strict_mode="false")
    assert reply["Status"] == "Success", reply
    assert rows(cur, "SELECT id, n, s FROM d WHERE id = 2") == [(2, None, "x")]


@pytest.mark.doc(STRICT)
def test_without_strict_mode_a_null_into_not_null_is_still_filtered(devservers, cur):
    reply = load(devservers, "d", b"abc\t1\tx\n", strict_mode="false")
    assert reply["Status"] == "Fail" and reply["NumberFilteredRows"] == 1


@pytest.mark.doc(STRICT)
def test_an_explicit_null_is_not_filtered_in_strict_mode(devservers, cur):
    reply = load(devservers, "d", b"3\t\\N\tx\n", strict_mode="true")
    assert reply["Status"] == "Success", reply


@pytest.mark.doc(SL)
def test_max_filter_ratio_tolerates_that_share_of_rows(devservers, cur):
    body = b"4\t1\tok\n5\tbad\tok\n6\t1\tok\n7\t1\tok\n"
    refused = load(devservers, "d", body, strict_mode="true", max_filter_ratio="0.2")
    assert refused["Status"] == "Fail" and "too many filtered rows" in refused["Message"]
    accepted = load(devservers, "d", body, strict_mode="true", max_filter_ratio="0.25")
    assert accepted["Status"] == "Success", accepted
    assert (accepted["NumberLoadedRows"], accepted["NumberFilteredRows"]) == (3, 1)
    assert rows(cur, "SELECT COUNT(*) FROM d WHERE id BETWEEN 4 AND 7") == [(3,)]


@pytest.mark.doc(SL)
def test_columns_header_maps_fields_by_name(devservers, cur):
    reply = load(devservers, "d", b"hello,8,80\n", column_separator=",", columns="s,id,n")
    assert reply["Status"] == "Success", reply
    assert rows(cur, "SELECT id, n, s FROM d WHERE id = 8") == [(8, 80, "hello")]


@pytest.mark.doc(SL)
def test_column_count_mismatch_is_filtered(devservers, cur):
    reply = load(devservers, "d", b"9\t1\n", strict_mode="true")
    assert reply["Status"] == "Fail" and reply["NumberFilteredRows"] == 1


@pytest.mark.doc(SL)
def test_json_with_strip_outer_array(devservers, cur):
    body = json.dumps([{"id": 10, "n": 1, "s": "j"}, {"id": 11, "s": "k"}]).encode()
    reply = load(devservers, "d", body, format="json", strip_outer_array="true")
    assert reply["Status"] == "Success", reply
    assert rows(cur, "SELECT id, n, s FROM d WHERE id IN (10, 11) ORDER BY id") == [(10, 1, "j"), (11, None, "k")]


@pytest.mark.doc(PKLOAD)
def test_op_upserts_and_deletes_on_primary_key_table(devservers, cur):
    assert load(devservers, "p", b"1,a,10,0\n2,b,20,0\n3,c,30,0\n", column_separator=",",
                columns="id,name,score,__op")["Status"] == "Success"
    reply = load(devservers, "p", b"1,a2,11,0\n2,b,20,1\n", column_separator=",", columns="id,name,score,__op")
    assert reply["Status"] == "Success", reply
    assert rows(cur, "SELECT id, name, score FROM p WHERE id <= 3 ORDER BY id") == [(1, "a2", 11), (3, "c", 30)]


@pytest.mark.doc(PKLOAD)
def test_op_delete_by_expression(devservers, cur):
    load(devservers, "p", b"20,x,1\n", column_separator=",")
    reply = load(devservers, "p", b"20,x,1\n", column_separator=",", columns="id,name,score,__op='delete'")
    assert reply["Status"] == "Success", reply
    assert rows(cur, "SELECT COUNT(*) FROM p WHERE id = 20") == [(0,)]


@pytest.mark.doc(PKLOAD)
def test_partial_update_keeps_the_other_columns(devservers, cur):
    load(devservers, "p", b"40,alice,5\n41,bob,6\n", column_separator=",")
    reply = load(devservers, "p", b"40,50\n", column_separator=",", columns="id,score", partial_update="true")
    assert reply["Status"] == "Success", reply
    assert rows(cur, "SELECT id, name, score FROM p WHERE id IN (40, 41) ORDER BY id") == [
        (40, "alice", 50), (41, "bob", 6)]


@pytest.mark.doc(PKLOAD)
def test_partial_update_inserts_a_new_key(devservers, cur):
    reply = load(devservers, "p", b"42,carol\n", column_separator=",", columns="id,name", partial_update="true")
    assert reply["Status"] == "Success", reply
    assert rows(cur, "SELECT id, name, score FROM p WHERE id = 42") == [(42, "carol", None)]


@pytest.mark.doc(PKLOAD)
def test_partial_update_from_json(devservers, cur):
    load(devservers, "p", b"43,dave,7\n", column_separator=",")
    reply = load(devservers, "p", json.dumps([{"id": 43, "name": "dave2"}]).encode(), format="json",
                 strip_outer_array="true", partial_update="true")
    assert reply["Status"] == "Success", reply
    assert rows(cur, "SELECT name, score FROM p WHERE id = 43") == [("dave2", 7)]


@pytest.mark.doc(PKLOAD)
def test_partial_update_needs_a_primary_key_table(devservers, cur):
    reply = load(devservers, "d", b"50,1\n", column_separator=",", columns="id,n", partial_update="true")
    assert reply["Status"] == "Fail"


@pytest.mark.doc(PKLOAD)
def test_op_delete_on_duplicate_key_table_is_refused(devservers, cur):
    reply = load(devservers, "d", b"60,1,x,1\n", column_separator=",", columns="id,n,s,__op")
    assert reply["Status"] == "Fail"
    assert rows(cur, "SELECT COUNT(*) FROM d WHERE id = 60") == [(0,)]


@pytest.mark.doc(SL)
def test_where_header_is_not_silently_ignored(devservers, cur):
    reply = load(devservers, "d", b"70\t1\tx\n71\t2\ty\n", where="n = 1")
    assert reply["Status"] == "Fail"
    assert reply["Message"].startswith("not supported by the stand-in: ")
