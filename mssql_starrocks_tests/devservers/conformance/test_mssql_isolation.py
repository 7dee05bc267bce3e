"""Isolation levels: SNAPSHOT needs ALLOW_SNAPSHOT_ISOLATION (error 3952 otherwise) and then reads
the data as of its transaction's start."""

from __future__ import annotations

import pytest

from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import connect, demo_database, fails, one  # noqa: F401

SET_ISOLATION = "https://learn.microsoft.com/en-us/sql/t-sql/statements/set-transaction-isolation-level-transact-sql"
ALTER_DB = "https://learn.microsoft.com/en-us/sql/t-sql/statements/alter-database-transact-sql-set-options"
ERRORS_3000 = ("https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/"
               "database-engine-events-and-errors-3000-to-3999")
DB = "conf_iso_db"


@pytest.fixture(scope="module")
def snapdb(devservers):
    admin = connect(devservers, database="master")
    admin.cursor().execute(f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]")
    admin.cursor().execute(f"ALTER DATABASE [{DB}] SET ALLOW_SNAPSHOT_ISOLATION ON")
    conn = connect(devservers, database=DB)
    conn.cursor().execute("CREATE TABLE conf_iso_1 (id INT PRIMARY KEY)")
    conn.cursor().execute("INSERT INTO conf_iso_1 VALUES (1), (2)")
    conn.close()
    yield DB
    admin.cursor().execute(f"DROP DATABASE [{DB}]")
    admin.close()


@pytest.mark.doc(ERRORS_3000)
def test_snapshot_without_allow_snapshot_isolation_is_3952(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_iso_2 (id INT PRIMARY KEY)")
    try:
        cur.execute("SET TRANSACTION ISOLATION LEVEL SNAPSHOT")
        number, message = fails(mssql, "SELECT COUNT(*) FROM conf_iso_2")
        assert number == 3952
        assert "Snapshot isolation transaction failed accessing database 'demo' because snapshot isolation is " \
               "not allowed in this database." in message
    finally:
        cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cur.execute("DROP TABLE conf_iso_2")


@pytest.mark.doc(SET_ISOLATION)
def test_read_committed_reads_after_snapshot_is_refused(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_iso_3 (id INT PRIMARY KEY)")
    try:
        cur.execute("SET TRANSACTION ISOLATION LEVEL SNAPSHOT")
        fails(mssql, "SELECT COUNT(*) FROM conf_iso_3")
        cur.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        assert one(mssql, "SELECT COUNT(*) FROM conf_iso_3") == 0
    finally:
        cur.execute("DROP TABLE conf_iso_3")


@pytest.mark.doc(ALTER_DB)
def test_allow_snapshot_isolation_is_accepted(devservers, snapdb):
    conn = connect(devservers, database=snapdb)
    try:
        conn.cursor().execute("SET TRANSACTION ISOLATION LEVEL SNAPSHOT")
        assert one(conn, "SELECT COUNT(*) FROM conf_iso_1") == 2
    finally:
        conn.close()


@pytest.mark.doc(SET_ISOLATION)
def test_snapshot_transaction_reads_data_as_of_its_start(devservers, snapdb):
    reader = connect(devservers, database=snapdb)
    writer = connect(devservers, database=snapdb)
    try:
        r = reader.cursor()
        r.execute("SET TRANSACTION ISOLATION LEVEL SNAPSHOT")
        r.execute("BEGIN TRAN")
        assert one(reader, "SELECT COUNT(*) FROM conf_iso_1") == 2
        writer.cursor().execute("INSERT INTO conf_iso_1 VALUES (3)")
        assert one(reader, "SELECT COUNT(*) FROM conf_iso_1") == 2
        r.execute("COMMIT")
        assert one(reader, "SELECT COUNT(*) FROM conf_iso_1") == 3
    finally:
        writer.cursor().execute("DELETE FROM conf_iso_1 WHERE id = 3")
        reader.close()
        writer.close()


@pytest.mark.doc(SET_ISOLATION)
def test_snapshot_reader_does_not_see_uncommitted_changes(devservers, snapdb):
    reader = connect(devservers, database=snapdb)
    writer = connect(devservers, database=snapdb)
    try:
        reader.cursor().execute("SET TRANSACTION ISOLATION LEVEL SNAPSHOT")
        w = writer.cursor()
        w.execute("BEGIN TRAN")
        w.execute("DELETE FROM conf_iso_1 WHERE id = 1")
        assert one(reader, "SELECT COUNT(*) FROM conf_iso_1") == 2
        w.execute("ROLLBACK")
        assert one(reader, "SELECT COUNT(*) FROM conf_iso_1") == 2
    finally:
        reader.close()
        writer.close()


@pytest.mark.doc(SET_ISOLATION)
def test_read_committed_sees_committed_changes(devservers, snapdb):
    reader = connect(devservers, database=snapdb)
    writer = connect(devservers, database=snapdb)
    try:
        writer.cursor().execute("INSERT INTO conf_iso_1 VALUES (10)")
        assert one(reader, "SELECT COUNT(*) FROM conf_iso_1 WHERE id = 10") == 1
        writer.cursor().execute("DELETE FROM conf_iso_1 WHERE id = 10")
    finally:
        reader.close()
        writer.close()


@pytest.mark.doc(SET_ISOLATION)
@pytest.mark.parametrize("level", ["READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"])
def test_isolation_levels_are_accepted(mssql, level):
    mssql.cursor().execute(f"SET TRANSACTION ISOLATION LEVEL {level}")
    try:
        assert one(mssql, "SELECT 1") == 1
    finally:
        mssql.cursor().execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
