"""The default collation SQL_Latin1_General_CP1_CI_AS: case-insensitive, accent-sensitive, and
comparisons that ignore trailing blanks; columns declared with a binary or case-sensitive
collation compare exactly."""

from __future__ import annotations

import pytest

from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import demo_database, fails, one  # noqa: F401

COLLATION = "https://learn.microsoft.com/en-us/sql/relational-databases/collations/collation-and-unicode-support"
PADDING = "https://learn.microsoft.com/en-us/sql/t-sql/language-elements/string-comparison-assignment"
SQL_COLLATION = "https://learn.microsoft.com/en-us/sql/t-sql/statements/sql-server-collation-name-transact-sql"
COLLATE = "https://learn.microsoft.com/en-us/sql/t-sql/statements/collations"


@pytest.fixture
def names(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_coll_names (id INT PRIMARY KEY, name VARCHAR(20), uname NVARCHAR(20))")
    cur.execute("INSERT INTO conf_coll_names VALUES (1, 'abc', N'abc'), (2, 'ABC', N'ABC'), (3, 'b', N'b'), "
                "(4, 'Abc', N'Abc'), (5, 'ábc', N'ábc'), (6, 'a', N'a')")
    yield cur
    cur.execute("DROP TABLE conf_coll_names")


@pytest.mark.doc(COLLATION)
@pytest.mark.parametrize("sql,expected", [
    ("SELECT CASE WHEN 'abc' = 'ABC' THEN 1 ELSE 0 END", 1),
    ("SELECT CASE WHEN 'abc' = 'ábc' THEN 1 ELSE 0 END", 0),
    ("SELECT CASE WHEN 'abc' < 'ABD' THEN 1 ELSE 0 END", 1),
    ("SELECT CASE WHEN 'a' < 'B' THEN 1 ELSE 0 END", 1),
])
def test_literals_compare_case_insensitively_accent_sensitively(mssql, sql, expected):
    assert one(mssql, sql) == expected


@pytest.mark.doc(PADDING)
@pytest.mark.parametrize("sql,expected", [
    ("SELECT CASE WHEN 'abc' = 'abc   ' THEN 1 ELSE 0 END", 1),
    ("SELECT CASE WHEN N'abc  ' = N'abc' THEN 1 ELSE 0 END", 1),
    ("SELECT CASE WHEN 'abc' <> 'abc ' THEN 1 ELSE 0 END", 0),
    ("SELECT CASE WHEN ' abc' = 'abc' THEN 1 ELSE 0 END", 0),
])
def test_equality_ignores_trailing_blanks(mssql, sql, expected):
    assert one(mssql, sql) == expected


@pytest.mark.doc(COLLATION)
@pytest.mark.parametrize("column", ["name", "uname"])
def test_where_matches_other_case(names, column):
    names.execute(f"SELECT id FROM conf_coll_names WHERE {column} = 'ABC' ORDER BY id")
    assert [r[0] for r in names.fetchall()] == [1, 2, 4]


@pytest.mark.doc(PADDING)
def test_where_ignores_trailing_blanks_of_the_literal(names):
    names.execute("SELECT COUNT(*) FROM conf_coll_names WHERE name = 'b   '")
    assert names.fetchone()[0] == 1


@pytest.mark.doc(COLLATION)
def test_like_is_case_insensitive(names):
    names.execute("SELECT COUNT(*) FROM conf_coll_names WHERE name LIKE 'AB%'")
    assert names.fetchone()[0] == 3


@pytest.mark.doc(COLLATION)
def test_in_list_is_case_insensitive(names):
    names.execute("SELECT COUNT(*) FROM conf_coll_names WHERE name IN ('B', 'xyz')")
    assert names.fetchone()[0] == 1


@pytest.mark.doc(COLLATION)
def test_group_by_folds_case(names):
    names.execute("SELECT COUNT(*) FROM conf_coll_names GROUP BY name ORDER BY COUNT(*) DESC")
    assert [r[0] for r in names.fetchall()] == [3, 1, 1, 1]


@pytest.mark.doc(COLLATION)
def test_distinct_folds_case(names):
    names.execute("SELECT COUNT(*) FROM (SELECT DISTINCT name FROM conf_coll_names) d")
    assert names.fetchone()[0] == 4  # abc, b, ábc, a


@pytest.mark.doc(COLLATION)
def test_count_distinct_folds_case(names):
    names.execute("SELECT COUNT(DISTINCT uname) FROM conf_coll_names")
    assert names.fetchone()[0] == 4


@pytest.mark.doc(COLLATION)
def test_order_by_is_dictionary_order(names):
    names.execute("SELECT name FROM conf_coll_names WHERE id IN (2, 3, 6) ORDER BY name")
    assert [r[0] for r in names.fetchall()] == ["a", "ABC", "b"]


@pytest.mark.doc(COLLATION)
def test_min_max_follow_the_collation(names):
    names.execute("SELECT MIN(name), MAX(name) FROM conf_coll_names WHERE id IN (2, 3, 6)")
    assert names.fetchone() == ("a", "b")


@pytest.mark.doc(COLLATION)
def test_join_on_text_is_case_insensitive(names):
    names.execute("SELECT COUNT(*) FROM conf_coll_names a JOIN conf_coll_names b ON a.name = b.uname "
                  "WHERE a.id = 1")
    assert names.fetchone()[0] == 3


@pytest.mark.doc("https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/"
                 "database-engine-events-and-errors-2000-to-2999")
@pytest.mark.parametrize("second", ["ABC", "abc  ", "Abc"])
def test_primary_key_values_equal_under_the_collation_collide(mssql, second):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_coll_pk (code VARCHAR(10) PRIMARY KEY)")
    try:
        cur.execute("INSERT INTO conf_coll_pk VALUES ('abc')")
        number, message = fails(mssql, f"INSERT INTO conf_coll_pk VALUES ('{second}')")
        assert number == 2627 and "Violation of PRIMARY KEY constraint" in message
    finally:
        cur.execute("DROP TABLE conf_coll_pk")


@pytest.mark.doc(SQL_COLLATION)
def test_accented_key_is_distinct(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_coll_pk2 (code NVARCHAR(10) PRIMARY KEY)")
    try:
        cur.execute("INSERT INTO conf_coll_pk2 VALUES (N'resume'), (N'résumé')")
        assert one(mssql, "SELECT COUNT(*) FROM conf_coll_pk2") == 2
    finally:
        cur.execute("DROP TABLE conf_coll_pk2")


@pytest.mark.doc(COLLATE)
def test_bin2_column_compares_exactly(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_coll_bin (code VARCHAR(10) COLLATE Latin1_General_BIN2 PRIMARY KEY)")
    try:
        cur.execute("INSERT INTO conf_coll_bin VALUES ('abc'), ('ABC')")
        assert one(mssql, "SELECT COUNT(*) FROM conf_coll_bin WHERE code = 'abc'") == 1
        assert one(mssql, "SELECT COUNT(*) FROM conf_coll_bin WHERE code = 'abc  '") == 1
        cur.execute("SELECT code FROM conf_coll_bin ORDER BY code")
        assert [r[0] for r in cur.fetchall()] == ["ABC", "abc"]
    finally:
        cur.execute("DROP TABLE conf_coll_bin")


@pytest.mark.doc(COLLATE)
def test_case_sensitive_column(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_coll_cs (id INT PRIMARY KEY, code NVARCHAR(10) COLLATE Latin1_General_CS_AS)")
    try:
        cur.execute("INSERT INTO conf_coll_cs VALUES (1, N'abc'), (2, N'ABC')")
        assert one(mssql, "SELECT COUNT(*) FROM conf_coll_cs WHERE code = N'ABC'") == 1
    finally:
        cur.execute("DROP TABLE conf_coll_cs")


@pytest.mark.doc(COLLATE)
def test_collate_clause_in_a_query(names):
    names.execute("SELECT COUNT(*) FROM conf_coll_names WHERE name COLLATE Latin1_General_CS_AS = 'ABC'")
    assert names.fetchone()[0] == 1


@pytest.mark.doc("https://learn.microsoft.com/en-us/sql/relational-databases/system-information-schema-views/"
                 "tables-transact-sql")
def test_catalog_names_compare_case_insensitively(names, mssql):
    assert one(mssql, "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = 'CONF_COLL_NAMES'") == 1


@pytest.mark.doc("https://learn.microsoft.com/en-us/sql/t-sql/functions/serverproperty-transact-sql")
def test_server_collation(mssql):
    assert one(mssql, "SELECT SERVERPROPERTY('Collation')") == "SQL_Latin1_General_CP1_CI_AS"
