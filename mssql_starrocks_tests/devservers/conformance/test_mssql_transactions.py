"""Transactions spanning batches on one connection: BEGIN/COMMIT/ROLLBACK, nesting and
@@TRANCOUNT, XACT_ABORT, drivers' own transaction handling, and MIN_ACTIVE_ROWVERSION."""

from __future__ import annotations

import pymssql
import pytds
import pytest

from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import connect, demo_database, fails, one  # noqa: F401

LEARN = "https://learn.microsoft.com/en-us/sql/t-sql"
BEGIN = f"{LEARN}/language-elements/begin-transaction-transact-sql"
COMMIT = f"{LEARN}/language-elements/commit-transaction-transact-sql"
ROLLBACK = f"{LEARN}/language-elements/rollback-transaction-transact-sql"
TRANCOUNT = f"{LEARN}/functions/trancount-transact-sql"
XACT_ABORT = f"{LEARN}/statements/set-xact-abort-transact-sql"
IMPLICIT = f"{LEARN}/statements/set-implicit-transactions-transact-sql"
MIN_ACTIVE = f"{LEARN}/functions/min-active-rowversion-transact-sql"
ERRORS_3000 = ("https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/"
               "database-engine-events-and-errors-3000-to-3999")


@pytest.fixture
def table(mssql):
    name = "conf_tx_1"
    cur = mssql.cursor()
    cur.execute(f"CREATE TABLE {name} (id INT PRIMARY KEY, v NVARCHAR(10))")
    yield name
    cur.execute(f"IF @@TRANCOUNT > 0 ROLLBACK")
    cur.execute(f"DROP TABLE {name}")


def count(conn, table):
    return one(conn, f"SELECT COUNT(*) FROM {table}")


@pytest.mark.doc(TRANCOUNT)
def test_trancount_outside_a_transaction_is_zero(mssql):
    assert one(mssql, "SELECT @@TRANCOUNT") == 0


@pytest.mark.doc(TRANCOUNT)
def test_nested_begin_increments_and_commit_decrements(mssql):
    cur = mssql.cursor()
    seen = []
    for statement in ("BEGIN TRAN", "BEGIN TRANSACTION", "COMMIT", "COMMIT TRANSACTION"):
        cur.execute(statement)
        seen.append(one(mssql, "SELECT @@TRANCOUNT"))
    assert seen == [1, 2, 1, 0]


@pytest.mark.doc(ROLLBACK)
def test_rollback_undoes_an_insert_made_in_an_earlier_batch(mssql, table):
    cur = mssql.cursor()
    cur.execute("BEGIN TRANSACTION")
    cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
    assert count(mssql, table) == 1  # the transaction sees its own change
    cur.execute("ROLLBACK TRANSACTION")
    assert count(mssql, table) == 0


@pytest.mark.doc(ROLLBACK)
def test_rollback_undoes_update_and_delete(mssql, table):
    cur = mssql.cursor()
    cur.execute(f"INSERT INTO {table} VALUES (1, N'a'), (2, N'b')")
    cur.execute("BEGIN TRAN")
    cur.execute(f"UPDATE {table} SET v = N'z' WHERE id = 1")
    cur.execute(f"DELETE FROM {table} WHERE id = 2")
    cur.execute("ROLLBACK")
    cur.execute(f"SELECT id, v FROM {table} ORDER BY id")
    assert cur.fetchall() == [(1, "a"), (2, "b")]


@pytest.mark.doc(COMMIT)
def test_commit_keeps_the_changes(mssql, table):
    cur = mssql.cursor()
    cur.execute("BEGIN TRAN")
    cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
    cur.execute("COMMIT")
    assert count(mssql, table) == 1


@pytest.mark.doc(COMMIT)
def test_inner_commit_does_not_commit(mssql, table):
    cur = mssql.cursor()
    cur.execute("BEGIN TRAN")
    cur.execute("BEGIN TRAN")
    cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
    cur.execute("COMMIT")  # only decrements @@TRANCOUNT
    cur.execute("ROLLBACK")  # rolls back everything, inner work included
    assert count(mssql, table) == 0
    assert one(mssql, "SELECT @@TRANCOUNT") == 0


@pytest.mark.doc(ROLLBACK)
def test_rollback_in_a_nested_transaction_resets_trancount(mssql, table):
    cur = mssql.cursor()
    cur.execute("BEGIN TRAN; BEGIN TRAN; BEGIN TRAN")
    assert one(mssql, "SELECT @@TRANCOUNT") == 3
    cur.execute("ROLLBACK")
    assert one(mssql, "SELECT @@TRANCOUNT") == 0


@pytest.mark.doc(BEGIN)
def test_named_transaction_rolled_back_by_name(mssql, table):
    cur = mssql.cursor()
    cur.execute("BEGIN TRANSACTION conf_tx_named")
    cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
    cur.execute("ROLLBACK TRANSACTION conf_tx_named")
    assert count(mssql, table) == 0


@pytest.mark.doc(ERRORS_3000)
def test_commit_without_begin_is_3902(mssql):
    number, message = fails(mssql, "COMMIT TRANSACTION")
    assert number == 3902
    assert "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION." in message


@pytest.mark.doc(ERRORS_3000)
def test_rollback_without_begin_is_3903(mssql):
    number, message = fails(mssql, "ROLLBACK TRANSACTION")
    assert number == 3903
    assert "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION." in message


@pytest.mark.doc(XACT_ABORT)
def test_without_xact_abort_a_failed_statement_leaves_the_transaction_open(mssql, table):
    cur = mssql.cursor()
    cur.execute("SET XACT_ABORT OFF")
    cur.execute("BEGIN TRAN")
    cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
    number, _ = fails(mssql, f"INSERT INTO {table} VALUES (1, N'dup')")
    assert number == 2627
    assert one(mssql, "SELECT @@TRANCOUNT") == 1
    cur.execute(f"INSERT INTO {table} VALUES (2, N'b')")
    cur.execute("COMMIT")
    assert count(mssql, table) == 2


@pytest.mark.doc(XACT_ABORT)
def test_with_xact_abort_a_failed_statement_rolls_back_the_transaction(mssql, table):
    cur = mssql.cursor()
    cur.execute("SET XACT_ABORT ON")
    try:
        cur.execute("BEGIN TRAN")
        cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
        number, _ = fails(mssql, f"INSERT INTO {table} VALUES (1, N'dup')")
        assert number == 2627
        assert one(mssql, "SELECT @@TRANCOUNT") == 0
        assert count(mssql, table) == 0
    finally:
        cur.execute("SET XACT_ABORT OFF")


@pytest.mark.doc(IMPLICIT)
def test_implicit_transactions_start_on_insert(mssql, table):
    cur = mssql.cursor()
    cur.execute("SET IMPLICIT_TRANSACTIONS ON")
    try:
        cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
        assert one(mssql, "SELECT @@TRANCOUNT") == 1
        cur.execute("ROLLBACK")
        assert count(mssql, table) == 0
    finally:
        cur.execute("IF @@TRANCOUNT > 0 ROLLBACK")
        cur.execute("SET IMPLICIT_TRANSACTIONS OFF")


@pytest.mark.doc(ROLLBACK)
def test_pymssql_without_autocommit_rolls_back(devservers, mssql, table):
    conn = connect(devservers, autocommit=False)
    try:
        cur = conn.cursor()
        cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
        conn.rollback()
        cur.execute(f"INSERT INTO {table} VALUES (2, N'b')")
        conn.commit()
    finally:
        conn.close()
    cur = mssql.cursor()
    cur.execute(f"SELECT id FROM {table}")
    assert cur.fetchall() == [(2,)]


@pytest.mark.doc(ROLLBACK)
def test_python_tds_transaction_manager_requests(devservers, mssql, table):
    conn = pytds.connect(server=devservers["MSSQL_HOST"], port=int(devservers["MSSQL_PORT"]),
                         user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"],
                         database=devservers["MSSQL_DATABASE"], autocommit=False)
    try:
        cur = conn.cursor()
        cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
        cur.execute("SELECT @@TRANCOUNT")
        assert cur.fetchone()[0] == 1
        conn.rollback()
        cur.execute(f"INSERT INTO {table} VALUES (2, N'b')")
        conn.commit()
    finally:
        conn.close()
    cur = mssql.cursor()
    cur.execute(f"SELECT id FROM {table}")
    assert cur.fetchall() == [(2,)]


@pytest.mark.doc(ROLLBACK)
def test_closing_a_connection_rolls_back_its_open_transaction(devservers, mssql, table):
    conn = connect(devservers)
    cur = conn.cursor()
    cur.execute("BEGIN TRAN")
    cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
    conn.close()
    assert count(mssql, table) == 0


@pytest.mark.doc(MIN_ACTIVE)
def test_min_active_rowversion_without_open_transactions_is_dbts_plus_one(mssql):
    assert one(mssql, "SELECT CAST(MIN_ACTIVE_ROWVERSION() AS BIGINT) - CAST(@@DBTS AS BIGINT)") == 1


@pytest.mark.doc(MIN_ACTIVE)
def test_min_active_rowversion_is_the_lowest_uncommitted_rowversion(devservers, mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_tx_rv (id INT PRIMARY KEY, rv ROWVERSION)")
    writer = connect(devservers)
    try:
        w = writer.cursor()
        w.execute("BEGIN TRAN")
        w.execute("INSERT INTO conf_tx_rv (id) VALUES (1)")
        w.execute("SELECT CAST(rv AS BIGINT) FROM conf_tx_rv WHERE id = 1")
        pending = w.fetchone()[0]
        assert one(mssql, "SELECT CAST(MIN_ACTIVE_ROWVERSION() AS BIGINT)") == pending
        w.execute("COMMIT")
        assert one(mssql, "SELECT CAST(MIN_ACTIVE_ROWVERSION() AS BIGINT)") > pending
    finally:
        writer.close()
        cur.execute("DROP TABLE conf_tx_rv")


@pytest.mark.doc(BEGIN)
def test_another_connection_reads_while_a_transaction_is_open(devservers, mssql, table):
    """Reads of other connections are not blocked forever by a transaction that has not written
    to the rows they read: a read of an untouched table proceeds."""
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_tx_other (id INT PRIMARY KEY)")
    cur.execute("INSERT INTO conf_tx_other VALUES (1)")
    writer = connect(devservers)
    try:
        w = writer.cursor()
        w.execute("BEGIN TRAN")
        w.execute(f"INSERT INTO {table} VALUES (1, N'a')")
        assert one(mssql, "SELECT COUNT(*) FROM conf_tx_other") == 1
        w.execute("ROLLBACK")
    finally:
        writer.close()
        cur.execute("DROP TABLE conf_tx_other")


@pytest.mark.doc(XACT_ABORT)
def test_without_xact_abort_a_truncation_error_leaves_the_transaction_open(mssql, table):
    cur = mssql.cursor()
    cur.execute("BEGIN TRAN")
    cur.execute(f"INSERT INTO {table} VALUES (1, N'a')")
    number, _ = fails(mssql, f"INSERT INTO {table} VALUES (2, N'far too long for ten')")
    assert number == 2628
    assert one(mssql, "SELECT @@TRANCOUNT") == 1
    number, _ = fails(mssql, f"UPDATE {table} SET v = N'far too long for ten' WHERE id = 1")
    assert number == 2628
    cur.execute("COMMIT")
    cur.execute(f"SELECT id, v FROM {table}")
    assert cur.fetchall() == [(1, "a")]
