"""Change Tracking: CHANGETABLE(CHANGES ...) operations and versions, a primary-key update as a
delete plus an insert, per-transaction versions, and TRUNCATE TABLE invalidating clients."""

from __future__ import annotations

import pytest

from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import demo_database, one  # noqa: F401

CHANGETABLE = "https://learn.microsoft.com/en-us/sql/relational-databases/system-functions/changetable-transact-sql"
WORK_WITH = ("https://learn.microsoft.com/en-us/sql/relational-databases/track-changes/"
             "work-with-change-tracking-sql-server")
MIN_VALID = ("https://learn.microsoft.com/en-us/sql/relational-databases/system-functions/"
             "change-tracking-min-valid-version-transact-sql")
CURRENT = ("https://learn.microsoft.com/en-us/sql/relational-databases/system-functions/"
           "change-tracking-current-version-transact-sql")
MANAGE = ("https://learn.microsoft.com/en-us/sql/relational-databases/track-changes/"
          "manage-change-tracking-sql-server")


@pytest.fixture(scope="module", autouse=True)
def tracking(devservers, demo_database):
    from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import connect

    conn = connect(devservers)
    try:
        conn.cursor().execute("ALTER DATABASE demo SET CHANGE_TRACKING = ON")
    except Exception:  # noqa: BLE001 - already on
        pass
    conn.close()


@pytest.fixture
def tracked(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_ct_1 (id INT PRIMARY KEY, v NVARCHAR(10))")
    cur.execute("ALTER TABLE conf_ct_1 ENABLE CHANGE_TRACKING")
    yield cur
    cur.execute("DROP TABLE conf_ct_1")


def version(conn):
    return one(conn, "SELECT CHANGE_TRACKING_CURRENT_VERSION()")


def changes(cur, since):
    cur.execute(f"SELECT id, SYS_CHANGE_OPERATION FROM CHANGETABLE(CHANGES conf_ct_1, {since}) AS c ORDER BY id")
    return cur.fetchall()


@pytest.mark.doc(CHANGETABLE)
def test_insert_is_reported_as_i(tracked, mssql):
    base = version(mssql)
    tracked.execute("INSERT INTO conf_ct_1 VALUES (1, N'a')")
    assert changes(tracked, base) == [(1, "I")]


@pytest.mark.doc(CHANGETABLE)
def test_update_of_a_non_key_column_is_u(tracked, mssql):
    tracked.execute("INSERT INTO conf_ct_1 VALUES (1, N'a')")
    base = version(mssql)
    tracked.execute("UPDATE conf_ct_1 SET v = N'b' WHERE id = 1")
    assert changes(tracked, base) == [(1, "U")]


@pytest.mark.doc(CHANGETABLE)
def test_delete_is_d(tracked, mssql):
    tracked.execute("INSERT INTO conf_ct_1 VALUES (1, N'a')")
    base = version(mssql)
    tracked.execute("DELETE FROM conf_ct_1 WHERE id = 1")
    assert changes(tracked, base) == [(1, "D")]


@pytest.mark.doc(WORK_WITH)
def test_primary_key_update_is_a_delete_and_an_insert(tracked, mssql):
    tracked.execute("INSERT INTO conf_ct_1 VALUES (1, N'a')")
    base = version(mssql)
    tracked.execute("UPDATE conf_ct_1 SET id = 2 WHERE id = 1")
    assert changes(tracked, base) == [(1, "D"), (2, "I")]


@pytest.mark.doc(CHANGETABLE)
def test_insert_then_update_since_before_the_insert_is_i(tracked, mssql):
    base = version(mssql)
    tracked.execute("INSERT INTO conf_ct_1 VALUES (1, N'a')")
    tracked.execute("UPDATE conf_ct_1 SET v = N'b' WHERE id = 1")
    assert changes(tracked, base) == [(1, "I")]


@pytest.mark.doc(CURRENT)
def test_a_transaction_commits_one_version(tracked, mssql):
    base = version(mssql)
    tracked.execute("BEGIN TRAN")
    tracked.execute("INSERT INTO conf_ct_1 VALUES (1, N'a')")
    tracked.execute("INSERT INTO conf_ct_1 VALUES (2, N'b')")
    tracked.execute("COMMIT")
    assert version(mssql) == base + 1
    tracked.execute(f"SELECT DISTINCT SYS_CHANGE_VERSION FROM CHANGETABLE(CHANGES conf_ct_1, {base}) AS c")
    assert tracked.fetchall() == [(base + 1,)]


@pytest.mark.doc(WORK_WITH)
def test_rolled_back_changes_are_not_tracked(tracked, mssql):
    base = version(mssql)
    tracked.execute("BEGIN TRAN")
    tracked.execute("INSERT INTO conf_ct_1 VALUES (1, N'a')")
    tracked.execute("ROLLBACK")
    assert changes(tracked, base) == []
    assert version(mssql) == base


@pytest.mark.doc(MIN_VALID)
def test_truncate_moves_the_minimum_valid_version_past_held_versions(tracked, mssql):
    tracked.execute("INSERT INTO conf_ct_1 VALUES (1, N'a')")
    held = version(mssql)
    tracked.execute("TRUNCATE TABLE conf_ct_1")
    minimum = one(mssql, "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('dbo.conf_ct_1'))")
    assert minimum > held  # a client holding `held` must reinitialize


@pytest.mark.doc(MIN_VALID)
def test_min_valid_version_of_an_untracked_table_is_null(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_ct_2 (id INT PRIMARY KEY)")
    try:
        assert one(mssql, "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('dbo.conf_ct_2'))") is None
    finally:
        cur.execute("DROP TABLE conf_ct_2")


@pytest.mark.doc(CHANGETABLE)
def test_creation_version_of_an_insert(tracked, mssql):
    base = version(mssql)
    tracked.execute("INSERT INTO conf_ct_1 VALUES (1, N'a')")
    tracked.execute(f"SELECT SYS_CHANGE_VERSION, SYS_CHANGE_CREATION_VERSION FROM CHANGETABLE(CHANGES conf_ct_1, "
                    f"{base}) AS c")
    assert tracked.fetchall() == [(base + 1, base + 1)]
