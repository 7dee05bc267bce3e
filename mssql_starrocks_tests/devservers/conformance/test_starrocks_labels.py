"""Load labels: at most 128 characters; a label is unique per database; a FINISHED label answers
"Label Already Exists" and loads nothing; a failed load's label may be used again."""

from __future__ import annotations

import pytest

from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect, stream_load

DB = "cf_sr_labels"
DB2 = "cf_sr_labels2"
LIMITS = "https://docs.starrocks.io/docs/reference/System_limit/"
SL = "https://docs.starrocks.io/docs/sql-reference/sql-statements/loading_unloading/STREAM_LOAD/"


@pytest.fixture(scope="module")
def cur(devservers):
    conn = connect(devservers)
    c = conn.cursor()
    for db in (DB, DB2):
        c.execute(f"DROP DATABASE IF EXISTS {db}")
        c.execute(f"CREATE DATABASE {db}")
        c.execute(f"CREATE TABLE {db}.t (id INT NOT NULL, v VARCHAR(3)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    yield c
    for db in (DB, DB2):
        c.execute(f"DROP DATABASE IF EXISTS {db}")
    conn.close()


def load(devservers, body: bytes, label: str, db: str = DB) -> dict:
    return stream_load(devservers, db, "t", body, label=label)


def count(cur, db: str = DB) -> int:
    cur.execute(f"SELECT COUNT(*) FROM {db}.t")
    return cur.fetchone()[0]


@pytest.mark.doc(LIMITS)
def test_label_of_128_characters_is_accepted(devservers, cur):
    reply = load(devservers, b"1\ta\n", "L" * 128)
    assert reply["Status"] == "Success", reply


@pytest.mark.doc(LIMITS)
def test_label_over_128_characters_is_refused(devservers, cur):
    before = count(cur)
    reply = load(devservers, b"2\tb\n", "M" * 129)
    assert reply["Status"] == "Fail"
    assert count(cur) == before


@pytest.mark.doc(SL)
def test_finished_label_answers_label_already_exists(devservers, cur):
    assert load(devservers, b"3\tc\n", "lbl_reuse")["Status"] == "Success"
    before = count(cur)
    again = load(devservers, b"4\td\n", "lbl_reuse")
    assert again["Status"] == "Label Already Exists"
    assert again["ExistingJobStatus"] == "FINISHED"
    assert count(cur) == before


@pytest.mark.doc(SL)
def test_label_of_a_failed_load_can_be_used_again(devservers, cur):
    assert load(devservers, b"5\ttoolong\n", "lbl_failed")["Status"] == "Fail"
    retry = load(devservers, b"5\tok\n", "lbl_failed")
    assert retry["Status"] == "Success", retry


@pytest.mark.doc(LIMITS)
def test_labels_are_unique_per_database(devservers, cur):
    assert load(devservers, b"6\te\n", "lbl_per_db")["Status"] == "Success"
    other = load(devservers, b"6\te\n", "lbl_per_db", db=DB2)
    assert other["Status"] == "Success", other
    assert count(cur, DB2) == 1
