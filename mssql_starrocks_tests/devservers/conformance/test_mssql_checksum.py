"""CHECKSUM(expr, ...) and CHECKSUM(*), as the CHECKSUM page documents them: an int; equal for
argument lists whose elements compare equal (under the column's collation, NULLs alike); the
column order of CHECKSUM(*); noncomparable types refused. SQL Server does not document the hash's
bit pattern, so no case asserts a particular value."""

from __future__ import annotations

import pytest

from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import demo_database, fails, one  # noqa: F401

CHECKSUM = "https://learn.microsoft.com/en-us/sql/t-sql/functions/checksum-transact-sql"


@pytest.fixture
def people(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_cks (id INT PRIMARY KEY, name VARCHAR(30), uname NVARCHAR(30), n INT, "
                "bname VARCHAR(30) COLLATE Latin1_General_BIN2)")
    cur.execute("INSERT INTO conf_cks VALUES (1, 'McCavity', N'McCavity', 7, 'x'), (2, 'Mccavity', N'Mccavity', 7, 'x'),"
                " (3, 'McCavity   ', N'McCavity  ', 7, 'x'), (4, NULL, NULL, NULL, NULL), (5, NULL, NULL, NULL, NULL),"
                " (6, 'Bearing Ball', N'Bearing Ball', 1, 'y')")
    yield cur
    cur.execute("DROP TABLE conf_cks")


def checksums(cur, sql: str) -> dict[int, int]:
    cur.execute(sql)
    return {r[0]: r[1] for r in cur.fetchall()}


@pytest.mark.doc(CHECKSUM)
@pytest.mark.parametrize("sql", ["SELECT CHECKSUM(1)", "SELECT CHECKSUM('abc', 2, NULL)",
                                 "SELECT CHECKSUM(N'x', CAST('2024-01-01' AS DATE), 1.5)"])
def test_returns_an_int(mssql, sql):
    value = one(mssql, sql)
    assert isinstance(value, int) and -2 ** 31 <= value < 2 ** 31


@pytest.mark.doc(CHECKSUM)
def test_result_column_is_int(people):
    people.execute("SELECT CHECKSUM(name, n) AS c FROM conf_cks WHERE id = 1")
    people.fetchall()
    # pymssql's type code for every integer column (int) is NUMBER = 3.
    assert people.description[0][1] == 3


@pytest.mark.doc(CHECKSUM)
def test_same_inputs_same_value_across_statements_and_connections(mssql, devservers):
    from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import connect
    sql = "SELECT CHECKSUM(N'Bearing Ball', 42, CAST('2024-01-01 10:00:00' AS DATETIME2(0)))"
    first = one(mssql, sql)
    assert one(mssql, sql) == first
    other = connect(devservers)
    try:
        assert one(other, sql) == first
    finally:
        other.close()


@pytest.mark.doc(CHECKSUM)
def test_case_insensitive_collation_equal_strings_hash_equal(people):
    values = checksums(people, "SELECT id, CHECKSUM(name) FROM conf_cks WHERE id IN (1, 2, 3)")
    assert values[1] == values[2] == values[3]
    values = checksums(people, "SELECT id, CHECKSUM(uname, n) FROM conf_cks WHERE id IN (1, 2, 3)")
    assert values[1] == values[2] == values[3]


@pytest.mark.doc(CHECKSUM)
@pytest.mark.parametrize("a,b", [("'abc'", "'ABC'"), ("'abc'", "'abc   '"), ("N'abc'", "N'ABC  '")])
def test_literals_equal_under_the_default_collation(mssql, a, b):
    assert one(mssql, f"SELECT CASE WHEN {a} = {b} THEN 1 ELSE 0 END") == 1
    assert one(mssql, f"SELECT CASE WHEN CHECKSUM({a}) = CHECKSUM({b}) THEN 1 ELSE 0 END") == 1


@pytest.mark.doc(CHECKSUM)
def test_nulls_compare_equal(people):
    values = checksums(people, "SELECT id, CHECKSUM(name, uname, n) FROM conf_cks WHERE id IN (4, 5)")
    assert values[4] == values[5]
    assert isinstance(values[4], int)


@pytest.mark.doc(CHECKSUM)
def test_checksum_star_is_the_columns_in_definition_order(people):
    star = checksums(people, "SELECT id, CHECKSUM(*) FROM conf_cks")
    listed = checksums(people, "SELECT id, CHECKSUM(id, name, uname, n, bname) FROM conf_cks")
    assert star == listed and len(star) == 6


@pytest.mark.doc(CHECKSUM)
def test_hash_index_equality_search(people):
    # The page's example: search by CHECKSUM, with the value itself as a second condition.
    people.execute("SELECT id FROM conf_cks WHERE CHECKSUM(N'Bearing Ball') = CHECKSUM(uname) "
                   "AND uname = N'Bearing Ball'")
    assert [r[0] for r in people.fetchall()] == [6]


@pytest.mark.doc(CHECKSUM)
def test_unicode_dash_is_ignored(mssql):
    assert one(mssql, "SELECT CASE WHEN CHECKSUM(N'1') = CHECKSUM(N'-1') THEN 1 ELSE 0 END") == 1
    assert one(mssql, "SELECT CASE WHEN CHECKSUM(N'ab') = CHECKSUM(N'a-b') THEN 1 ELSE 0 END") == 1


@pytest.mark.doc(CHECKSUM)
def test_splits_by_checksum_partition_every_row_once(people):
    # ABS(CHECKSUM(...)) % n puts each row in exactly one of n buckets (the value is deterministic).
    people.execute("SELECT COUNT(*) FROM conf_cks")
    total = people.fetchone()[0]
    seen = []
    for bucket in range(3):
        people.execute(f"SELECT id FROM conf_cks WHERE ABS(CAST(CHECKSUM(name, n) AS BIGINT)) % 3 = {bucket}")
        seen += [r[0] for r in people.fetchall()]
    assert sorted(seen) == list(range(1, total + 1))


@pytest.mark.doc(CHECKSUM)
@pytest.mark.parametrize("column_type", ["TEXT", "NTEXT", "IMAGE", "XML"])
def test_noncomparable_types_are_refused(mssql, column_type):
    cur = mssql.cursor()
    cur.execute(f"CREATE TABLE conf_cks_nc (id INT PRIMARY KEY, v {column_type})")
    try:
        number, message = fails(mssql, "SELECT CHECKSUM(v) FROM conf_cks_nc")
        assert "not supported by the stand-in" not in message
        assert column_type.lower() in message.lower()
        number, message = fails(mssql, "SELECT CHECKSUM(*) FROM conf_cks_nc")
        assert "not supported by the stand-in" not in message
    finally:
        cur.execute("DROP TABLE conf_cks_nc")
