"""Session state: SET NOCOUNT, USE, DB_NAME, per-session settings."""

from __future__ import annotations

import pytest

from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import connect, demo_database, one  # noqa: F401

LEARN = "https://learn.microsoft.com/en-us/sql/t-sql"


@pytest.mark.doc(f"{LEARN}/statements/set-nocount-transact-sql")
def test_nocount_on_hides_the_row_count(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_sess_1 (id INT PRIMARY KEY)")
    try:
        cur.execute("INSERT INTO conf_sess_1 VALUES (1), (2)")
        assert cur.rowcount == 2
        cur.execute("SET NOCOUNT ON")
        cur.execute("INSERT INTO conf_sess_1 VALUES (3)")
        assert cur.rowcount == -1
        cur.execute("SET NOCOUNT OFF")
        cur.execute("DELETE FROM conf_sess_1")
        assert cur.rowcount == 3
    finally:
        cur.execute("DROP TABLE conf_sess_1")


@pytest.mark.doc(f"{LEARN}/language-elements/use-transact-sql")
def test_use_changes_the_database_of_the_session(mssql):
    cur = mssql.cursor()
    cur.execute("USE master")
    assert one(mssql, "SELECT DB_NAME()") == "master"
    cur.execute("USE demo")
    assert one(mssql, "SELECT DB_NAME()") == "demo"


@pytest.mark.doc(f"{LEARN}/statements/set-xact-abort-transact-sql")
def test_xact_abort_is_per_session(devservers, mssql):
    mssql.cursor().execute("SET XACT_ABORT ON")
    other = connect(devservers)
    try:
        cur = other.cursor()
        cur.execute("CREATE TABLE conf_sess_2 (id INT PRIMARY KEY)")
        cur.execute("BEGIN TRAN")
        cur.execute("INSERT INTO conf_sess_2 VALUES (1)")
        try:
            cur.execute("INSERT INTO conf_sess_2 VALUES (1)")
        except Exception:  # noqa: BLE001 - 2627 expected
            pass
        assert one(other, "SELECT @@TRANCOUNT") == 1  # this session has XACT_ABORT OFF
        cur.execute("ROLLBACK")
        cur.execute("DROP TABLE conf_sess_2")
    finally:
        other.close()
        mssql.cursor().execute("SET XACT_ABORT OFF")


@pytest.mark.doc(f"{LEARN}/functions/trancount-transact-sql")
def test_trancount_is_per_session(devservers, mssql):
    mssql.cursor().execute("BEGIN TRAN")
    other = connect(devservers)
    try:
        assert one(other, "SELECT @@TRANCOUNT") == 0
        assert one(mssql, "SELECT @@TRANCOUNT") == 1
    finally:
        other.close()
        mssql.cursor().execute("ROLLBACK")
