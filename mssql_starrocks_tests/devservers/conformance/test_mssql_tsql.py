"""General T-SQL through pymssql: string concatenation, CTEs, variables, #temp tables, numeric
conversion and arithmetic, as the Transact-SQL reference documents them."""

from __future__ import annotations

import decimal

import pymssql
import pytest

LEARN = "https://learn.microsoft.com/en-us/sql/t-sql"


def connect(devservers, database=None, **kw):
    kw.setdefault("autocommit", True)
    return pymssql.connect(server=devservers["MSSQL_HOST"], port=devservers["MSSQL_PORT"],
                           user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"],
                           database=database or devservers["MSSQL_DATABASE"], tds_version="7.4", **kw)


@pytest.fixture(autouse=True, scope="module")
def demo_database(devservers):
    """The `mssql` fixture opens the demo database: create it when this module runs first."""
    conn = connect(devservers, database="master")
    conn.cursor().execute(f"IF DB_ID('{devservers['MSSQL_DATABASE']}') IS NULL "
                          f"CREATE DATABASE [{devservers['MSSQL_DATABASE']}]")
    conn.close()


def one(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchone()[0]


def fails(conn, sql) -> tuple[int, str]:
    with pytest.raises(pymssql.Error) as info:
        cur = conn.cursor()
        cur.execute(sql)
        cur.fetchall()
    number, message = info.value.args[0], info.value.args[1]
    return number, message.decode() if isinstance(message, bytes) else str(message)


@pytest.mark.doc(f"{LEARN}/language-elements/string-concatenation-transact-sql")
@pytest.mark.parametrize("sql,expected", [
    ("SELECT 'ab' + 'cd'", "abcd"),
    ("SELECT N'ab' + N'cd'", "abcd"),
    ("SELECT 'a' + 'b' + 'c'", "abc"),
    ("SELECT 'x' + CAST(12 AS VARCHAR(10))", "x12"),
])
def test_plus_concatenates_strings(mssql, sql, expected):
    assert one(mssql, sql) == expected


@pytest.mark.doc(f"{LEARN}/statements/set-concat-null-yields-null-transact-sql")
def test_null_plus_string_is_null(mssql):
    assert one(mssql, "SELECT NULL + 'abc'") is None


@pytest.mark.doc(f"{LEARN}/language-elements/string-concatenation-transact-sql")
def test_plus_concatenates_columns(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_tsql_1 (id INT PRIMARY KEY, first_name NVARCHAR(20), last_name NVARCHAR(20))")
    try:
        cur.execute("INSERT INTO conf_tsql_1 VALUES (1, N'Ada', N'Lovelace'), (2, N'Alan', NULL)")
        cur.execute("SELECT first_name + N' ' + last_name FROM conf_tsql_1 ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == ["Ada Lovelace", None]
    finally:
        cur.execute("DROP TABLE conf_tsql_1")


@pytest.mark.doc(f"{LEARN}/queries/with-common-table-expression-transact-sql")
def test_cte(mssql):
    assert one(mssql, "WITH c AS (SELECT 1 AS x UNION ALL SELECT 2) SELECT SUM(x) FROM c") == 3


@pytest.mark.doc(f"{LEARN}/queries/with-common-table-expression-transact-sql")
def test_cte_with_column_list(mssql):
    assert one(mssql, "WITH c (a, b) AS (SELECT 1, 2) SELECT a + b FROM c") == 3


@pytest.mark.doc(f"{LEARN}/queries/with-common-table-expression-transact-sql")
def test_two_ctes_second_reads_first(mssql):
    assert one(mssql, "WITH a AS (SELECT 5 AS v), b AS (SELECT v * 2 AS w FROM a) SELECT w FROM b") == 10


@pytest.mark.doc(f"{LEARN}/queries/with-common-table-expression-transact-sql")
def test_cte_over_a_table(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_tsql_2 (id INT PRIMARY KEY, v INT)")
    try:
        cur.execute("INSERT INTO conf_tsql_2 VALUES (1, 10), (2, 20), (3, 30)")
        cur.execute("WITH big AS (SELECT id FROM conf_tsql_2 WHERE v > 15) SELECT COUNT(*) FROM big")
        assert cur.fetchone()[0] == 2
    finally:
        cur.execute("DROP TABLE conf_tsql_2")


@pytest.mark.doc(f"{LEARN}/language-elements/declare-local-variable-transact-sql")
def test_declare_with_initial_value(mssql):
    assert one(mssql, "DECLARE @x INT = 41; SELECT @x + 1") == 42


@pytest.mark.doc(f"{LEARN}/language-elements/set-local-variable-transact-sql")
def test_set_variable(mssql):
    assert one(mssql, "DECLARE @s NVARCHAR(20); SET @s = N'hello'; SELECT @s") == "hello"


@pytest.mark.doc(f"{LEARN}/language-elements/set-local-variable-transact-sql")
def test_set_compound_assignment(mssql):
    assert one(mssql, "DECLARE @n INT = 10; SET @n += 5; SELECT @n") == 15


@pytest.mark.doc(f"{LEARN}/language-elements/declare-local-variable-transact-sql")
def test_declared_variable_is_null(mssql):
    assert one(mssql, "DECLARE @d DATE; SELECT @d") is None


@pytest.mark.doc(f"{LEARN}/language-elements/declare-local-variable-transact-sql")
def test_variable_in_where(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_tsql_3 (id INT PRIMARY KEY, name VARCHAR(10))")
    try:
        cur.execute("INSERT INTO conf_tsql_3 VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        cur.execute("DECLARE @min INT = 2; SELECT COUNT(*) FROM conf_tsql_3 WHERE id >= @min")
        assert cur.fetchone()[0] == 2
    finally:
        cur.execute("DROP TABLE conf_tsql_3")


@pytest.mark.doc(f"{LEARN}/language-elements/variables-transact-sql")
def test_variable_lives_for_its_batch_only(mssql):
    mssql.cursor().execute("DECLARE @gone INT = 1")
    number, message = fails(mssql, "SELECT @gone")
    assert number == 137 and 'Must declare the scalar variable "@gone"' in message


@pytest.mark.doc(f"{LEARN}/language-elements/declare-local-variable-transact-sql")
def test_variable_assignment_converts_to_declared_type(mssql):
    assert one(mssql, "DECLARE @s VARCHAR(3) = 'abcdef'; SELECT @s") == "abc"


@pytest.mark.doc(f"{LEARN}/functions/cast-and-convert-transact-sql")
@pytest.mark.parametrize("sql,expected", [
    ("SELECT CAST(2.5 AS INT)", 2),
    ("SELECT CAST(-2.5 AS INT)", -2),
    ("SELECT CAST(2.99 AS SMALLINT)", 2),
    ("SELECT CONVERT(INT, 9.99)", 9),
    ("SELECT CAST(CAST(10.6 AS FLOAT) AS BIGINT)", 10),
])
def test_numeric_to_integer_truncates(mssql, sql, expected):
    assert one(mssql, sql) == expected


@pytest.mark.doc(f"{LEARN}/functions/round-transact-sql")
@pytest.mark.parametrize("sql,expected", [
    ("SELECT ROUND(123.9994, 3)", decimal.Decimal("123.999")),
    ("SELECT ROUND(123.9995, 3)", decimal.Decimal("124.000")),
    ("SELECT ROUND(123.4545, 2)", decimal.Decimal("123.45")),
    ("SELECT ROUND(123.45, -2)", decimal.Decimal("100")),
    ("SELECT ROUND(150.75, 0)", decimal.Decimal("151")),
    ("SELECT ROUND(150.75, 0, 1)", decimal.Decimal("150")),
])
def test_round(mssql, sql, expected):
    assert decimal.Decimal(one(mssql, sql)) == expected


@pytest.mark.doc(f"{LEARN}/language-elements/divide-transact-sql")
@pytest.mark.parametrize("sql,expected", [
    ("SELECT 7 / 2", 3),
    ("SELECT -7 / 2", -3),
    ("SELECT 7 / 2.0", decimal.Decimal("3.5")),
])
def test_division(mssql, sql, expected):
    assert one(mssql, sql) == expected


@pytest.mark.doc(f"{LEARN}/language-elements/modulo-transact-sql")
@pytest.mark.parametrize("sql,expected", [("SELECT 38 % 5", 3), ("SELECT -38 % 5", -3)])
def test_modulo(mssql, sql, expected):
    assert one(mssql, sql) == expected


@pytest.mark.doc(f"{LEARN}/statements/create-table-transact-sql")
def test_temp_table_is_session_scoped(mssql, devservers):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE #conf_tsql_tmp (id INT PRIMARY KEY, v NVARCHAR(10))")
    cur.execute("INSERT INTO #conf_tsql_tmp VALUES (1, N'a'), (2, N'b')")
    cur.execute("SELECT COUNT(*) FROM #conf_tsql_tmp")
    assert cur.fetchone()[0] == 2
    other = connect(devservers)
    try:
        number, _ = fails(other, "SELECT * FROM #conf_tsql_tmp")
        assert number == 208
        # Each session has its own table of that name.
        other.cursor().execute("CREATE TABLE #conf_tsql_tmp (id INT)")
        assert one(other, "SELECT COUNT(*) FROM #conf_tsql_tmp") == 0
    finally:
        other.close()
    cur.execute("DROP TABLE #conf_tsql_tmp")


@pytest.mark.doc(f"{LEARN}/statements/create-table-transact-sql")
def test_temp_table_dropped_when_session_ends(devservers):
    first = connect(devservers)
    first.cursor().execute("CREATE TABLE #conf_tsql_tmp2 (id INT)")
    first.close()
    second = connect(devservers)
    try:
        number, _ = fails(second, "SELECT * FROM #conf_tsql_tmp2")
        assert number == 208
    finally:
        second.close()


@pytest.mark.doc(f"{LEARN}/functions/len-transact-sql")
@pytest.mark.parametrize("sql,expected", [
    ("SELECT LEN('abc   ')", 3),
    ("SELECT LEN('   abc')", 6),
    ("SELECT LEN(N'')", 0),
])
def test_len_excludes_trailing_spaces(mssql, sql, expected):
    assert one(mssql, sql) == expected


@pytest.mark.doc(f"{LEARN}/functions/datalength-transact-sql")
@pytest.mark.parametrize("sql,expected", [
    ("SELECT DATALENGTH('abc   ')", 6),
    ("SELECT DATALENGTH(N'abc')", 6),
])
def test_datalength_counts_bytes(mssql, sql, expected):
    assert one(mssql, sql) == expected


@pytest.mark.doc(f"{LEARN}/functions/isnull-transact-sql")
def test_isnull_replaces_null(mssql):
    assert one(mssql, "SELECT ISNULL(NULL + 'x', 'fallback')") == "fallback"
