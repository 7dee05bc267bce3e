"""Error codes as StarRocks documents them (Error code page): 1046 no database, 1049 unknown database,
1050 table exists, 1051 unknown table, 1054 unknown column, 1060 duplicate column, 1007/1008 databases."""

from __future__ import annotations

import pymysql
import pytest

from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect

DB = "cf_sr_ddlerr"
ERR = "https://docs.starrocks.io/docs/reference/Error_code/"


@pytest.fixture(scope="module")
def cur(devservers):
    conn = connect(devservers)
    c = conn.cursor()
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    c.execute(f"CREATE DATABASE {DB}")
    c.execute(f"CREATE TABLE {DB}.t (id INT NOT NULL, v VARCHAR(10)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def code_of(cur, statement: str) -> int:
    with pytest.raises(pymysql.MySQLError) as err:
        cur.execute(statement)
    return err.value.args[0]


@pytest.mark.doc(ERR)
@pytest.mark.parametrize("statement", ["SELECT * FROM cf_sr_nodb.t", "USE cf_sr_nodb",
                                       "CREATE TABLE cf_sr_nodb.t (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)",
                                       "SHOW TABLES FROM cf_sr_nodb"])
def test_unknown_database_is_1049(cur, statement):
    assert code_of(cur, statement) == 1049


@pytest.mark.doc(ERR)
@pytest.mark.parametrize("statement", [f"SELECT * FROM {DB}.missing", f"INSERT INTO {DB}.missing VALUES (1)",
                                       f"DROP TABLE {DB}.missing", f"SHOW CREATE TABLE {DB}.missing"])
def test_unknown_table_is_1051(cur, statement):
    assert code_of(cur, statement) == 1051


@pytest.mark.doc(ERR)
@pytest.mark.parametrize("statement", [f"SELECT nope FROM {DB}.t", f"INSERT INTO {DB}.t (id, nope) VALUES (1, 2)",
                                       f"SELECT id FROM {DB}.t WHERE nope = 1"])
def test_unknown_column_is_1054(cur, statement):
    assert code_of(cur, statement) == 1054


@pytest.mark.doc(ERR)
def test_table_exists_is_1050(cur):
    assert code_of(cur, f"CREATE TABLE {DB}.t (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)") == 1050


@pytest.mark.doc(ERR)
def test_create_existing_database_is_1007_and_drop_missing_is_1008(cur):
    assert code_of(cur, f"CREATE DATABASE {DB}") == 1007
    assert code_of(cur, "DROP DATABASE cf_sr_never_there") == 1008


@pytest.mark.doc(ERR)
def test_duplicate_column_is_1060(cur):
    assert code_of(cur, f"CREATE TABLE {DB}.d (id INT, id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)") == 1060
    assert code_of(cur, f"ALTER TABLE {DB}.t ADD COLUMN v INT") == 1060


@pytest.mark.doc(ERR)
def test_no_database_selected_is_1046(devservers):
    conn = connect(devservers)
    try:
        with pytest.raises(pymysql.MySQLError) as err:
            conn.cursor().execute("SELECT * FROM t")
        assert err.value.args[0] == 1046
    finally:
        conn.close()


@pytest.mark.doc("https://docs.starrocks.io/docs/sql-reference/sql-statements/table_bucket_part_index/DROP_TABLE/")
def test_if_exists_and_if_not_exists_are_quiet(cur):
    cur.execute(f"DROP TABLE IF EXISTS {DB}.missing")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {DB}.t (other INT) DUPLICATE KEY(other) DISTRIBUTED BY HASH(other)")
    cur.execute(f"SHOW COLUMNS FROM {DB}.t")
    assert [r[0] for r in cur.fetchall()] == ["id", "v"]
