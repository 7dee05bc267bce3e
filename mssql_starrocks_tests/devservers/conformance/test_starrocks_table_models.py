"""Table models: key columns first and in order, Primary Key rules, UPDATE/DELETE per model."""

from __future__ import annotations

import pymysql
import pytest

from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect

DB = "cf_sr_models"
DOCS = "https://docs.starrocks.io/docs"
PK = f"{DOCS}/table_design/table_types/primary_key_table/"
DUP = f"{DOCS}/table_design/table_types/duplicate_key_table/"
UNIQ = f"{DOCS}/table_design/table_types/unique_key_table/"
CREATE = f"{DOCS}/sql-reference/sql-statements/table_bucket_part_index/CREATE_TABLE/"
UPDATE = f"{DOCS}/sql-reference/sql-statements/table_bucket_part_index/UPDATE/"
DELETE = f"{DOCS}/sql-reference/sql-statements/table_bucket_part_index/DELETE/"


@pytest.fixture(scope="module")
def cur(devservers):
    conn = connect(devservers)
    c = conn.cursor()
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    c.execute(f"CREATE DATABASE {DB}")
    c.execute(f"USE {DB}")
    c.execute("CREATE TABLE pk (id INT NOT NULL, name VARCHAR(20), qty INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(id)")
    c.execute("CREATE TABLE dup (id INT, name VARCHAR(20)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    c.execute("CREATE TABLE uniq (id INT, name VARCHAR(20)) UNIQUE KEY(id) DISTRIBUTED BY HASH(id)")
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def rows(cur, sql: str):
    cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


@pytest.mark.doc(PK)
@pytest.mark.parametrize("model", ["PRIMARY", "DUPLICATE", "UNIQUE"])
def test_key_columns_must_come_first(cur, model):
    with pytest.raises(pymysql.MySQLError):
        cur.execute(f"CREATE TABLE bad_order_{model.lower()} (v INT NOT NULL, id INT NOT NULL) {model} KEY(id) "
                    "DISTRIBUTED BY HASH(id)")


@pytest.mark.doc(CREATE)
def test_key_columns_must_keep_the_schema_order(cur):
    with pytest.raises(pymysql.MySQLError):
        cur.execute("CREATE TABLE bad_seq (a INT NOT NULL, b INT NOT NULL, v INT) PRIMARY KEY(b, a) "
                    "DISTRIBUTED BY HASH(a)")


@pytest.mark.doc(CREATE)
def test_key_column_must_exist(cur):
    with pytest.raises(pymysql.MySQLError):
        cur.execute("CREATE TABLE bad_key (a INT, v INT) DUPLICATE KEY(zz) DISTRIBUTED BY HASH(a)")


@pytest.mark.doc(PK)
def test_primary_key_columns_are_not_null(cur):
    cur.execute("CREATE TABLE pk_implicit (id INT, v INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(id)")
    (_, ddl), = rows(cur, "SHOW CREATE TABLE pk_implicit")
    assert "`id` int(11) NOT NULL" in ddl
    with pytest.raises(pymysql.MySQLError):
        cur.execute("INSERT INTO pk_implicit VALUES (NULL, 1)")


@pytest.mark.doc(PK)
@pytest.mark.parametrize("kind", ["DOUBLE", "JSON", "DECIMAL(10,2)"])
def test_primary_key_type_must_be_supported(cur, kind):
    with pytest.raises(pymysql.MySQLError):
        cur.execute(f"CREATE TABLE pk_{kind[:4].lower()} (k {kind} NOT NULL, v INT) PRIMARY KEY(k) "
                    "DISTRIBUTED BY HASH(k)")


@pytest.mark.doc(PK)
def test_primary_key_table_keeps_the_latest_row_of_a_key(cur):
    cur.execute("INSERT INTO pk VALUES (1, 'a', 1), (2, 'b', 2)")
    cur.execute("INSERT INTO pk VALUES (1, 'a2', 10)")
    assert rows(cur, "SELECT id, name, qty FROM pk ORDER BY id") == [(1, "a2", 10), (2, "b", 2)]


@pytest.mark.doc(DUP)
def test_duplicate_key_table_keeps_every_row(cur):
    cur.execute("INSERT INTO dup VALUES (1, 'a'), (1, 'a'), (1, 'b')")
    assert rows(cur, "SELECT COUNT(*) FROM dup WHERE id = 1") == [(3,)]


@pytest.mark.doc(UNIQ)
def test_unique_key_table_keeps_the_latest_row_of_a_key(cur):
    cur.execute("INSERT INTO uniq VALUES (1, 'a')")
    cur.execute("INSERT INTO uniq VALUES (1, 'b')")
    assert rows(cur, "SELECT id, name FROM uniq") == [(1, "b")]


@pytest.mark.doc(UPDATE)
def test_update_works_on_primary_key_table(cur):
    cur.execute("INSERT INTO pk VALUES (5, 'x', 5)")
    cur.execute("UPDATE pk SET qty = qty + 1 WHERE id = 5")
    assert rows(cur, "SELECT qty FROM pk WHERE id = 5") == [(6,)]


@pytest.mark.doc(UPDATE)
@pytest.mark.parametrize("table", ["dup", "uniq"])
def test_update_is_refused_outside_primary_key_tables(cur, table):
    with pytest.raises(pymysql.MySQLError):
        cur.execute(f"UPDATE {table} SET name = 'z' WHERE id = 1")


@pytest.mark.doc(DELETE)
def test_delete_on_primary_key_table(cur):
    cur.execute("INSERT INTO pk VALUES (7, 'd', 7), (8, 'e', 8)")
    cur.execute("DELETE FROM pk WHERE id = 7")
    assert rows(cur, "SELECT id FROM pk WHERE id IN (7, 8)") == [(8,)]


@pytest.mark.doc(DELETE)
def test_delete_on_duplicate_key_table_with_condition(cur):
    cur.execute("INSERT INTO dup VALUES (9, 'x'), (9, 'y'), (10, 'z')")
    cur.execute("DELETE FROM dup WHERE id = 9")
    assert rows(cur, "SELECT COUNT(*) FROM dup WHERE id IN (9, 10)") == [(1,)]


@pytest.mark.doc(DELETE)
@pytest.mark.parametrize("table", ["pk", "dup", "uniq"])
def test_delete_needs_a_where_clause(cur, table):
    with pytest.raises(pymysql.MySQLError):
        cur.execute(f"DELETE FROM {table}")


@pytest.mark.doc(DELETE)
@pytest.mark.parametrize("condition", ["id = 1 OR id = 2", "id IN (SELECT id FROM pk)", "id + 1 = 2"])
def test_delete_on_duplicate_key_table_takes_and_of_simple_predicates(cur, condition):
    cur.execute("INSERT INTO dup VALUES (1, 'keep')")
    with pytest.raises(pymysql.MySQLError):
        cur.execute(f"DELETE FROM dup WHERE {condition}")
    assert rows(cur, "SELECT COUNT(*) FROM dup WHERE name = 'keep'")[0][0] >= 1


@pytest.mark.doc(DELETE)
def test_delete_on_duplicate_key_table_with_in_and_and(cur):
    cur.execute("INSERT INTO dup VALUES (30, 'a'), (31, 'b'), (32, 'c')")
    cur.execute("DELETE FROM dup WHERE id IN (30, 31) AND name != 'b'")
    assert rows(cur, "SELECT id FROM dup WHERE id BETWEEN 30 AND 32 ORDER BY id") == [(31,), (32,)]


@pytest.mark.doc(DELETE)
def test_delete_on_unique_key_table_only_by_key_columns(cur):
    cur.execute("INSERT INTO uniq VALUES (40, 'x')")
    with pytest.raises(pymysql.MySQLError):
        cur.execute("DELETE FROM uniq WHERE name = 'x'")
    cur.execute("DELETE FROM uniq WHERE id = 40")
    assert rows(cur, "SELECT COUNT(*) FROM uniq WHERE id = 40") == [(0,)]


@pytest.mark.doc(DELETE)
def test_delete_on_primary_key_table_with_or_and_subquery(cur):
    cur.execute("INSERT INTO pk VALUES (50, 'a', 1), (51, 'b', 2), (52, 'c', 3)")
    cur.execute("DELETE FROM pk WHERE id = 50 OR id IN (SELECT id FROM pk WHERE name = 'b')")
    assert rows(cur, "SELECT id FROM pk WHERE id BETWEEN 50 AND 52") == [(52,)]


@pytest.mark.doc(PK)
def test_primary_key_value_cannot_be_updated(cur):
    cur.execute("INSERT INTO pk VALUES (60, 'a', 1)")
    with pytest.raises(pymysql.MySQLError):
        cur.execute("UPDATE pk SET id = 61 WHERE id = 60")
    assert rows(cur, "SELECT id FROM pk WHERE id IN (60, 61)") == [(60,)]


@pytest.mark.doc(PK)
def test_primary_key_must_include_the_bucketing_columns(cur):
    with pytest.raises(pymysql.MySQLError):
        cur.execute("CREATE TABLE pk_bucket (id INT NOT NULL, v INT) PRIMARY KEY(id) DISTRIBUTED BY HASH(v)")


@pytest.mark.doc(PK)
def test_primary_key_must_include_the_partition_columns(cur):
    with pytest.raises(pymysql.MySQLError):
        cur.execute("CREATE TABLE pk_part (id INT NOT NULL, dt DATE NOT NULL, v INT) PRIMARY KEY(id) "
                    "PARTITION BY RANGE(dt) (PARTITION p1 VALUES LESS THAN ('2024-01-01')) DISTRIBUTED BY HASH(id)")
    cur.execute("CREATE TABLE pk_part_ok (id INT NOT NULL, dt DATE NOT NULL, v INT) PRIMARY KEY(id, dt) "
                "PARTITION BY RANGE(dt) (PARTITION p1 VALUES LESS THAN ('2024-01-01')) DISTRIBUTED BY HASH(id)")
