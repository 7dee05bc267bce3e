"""SHOW statements and information_schema as the product and common clients use them."""

from __future__ import annotations

import pytest

from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect

DB = "cf_sr_show"
S = "https://docs.starrocks.io/docs/sql-reference/sql-statements"
IS = "https://docs.starrocks.io/docs/sql-reference/information_schema"


@pytest.fixture(scope="module")
def cur(devservers):
    conn = connect(devservers)
    c = conn.cursor()
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    c.execute(f"CREATE DATABASE {DB}")
    c.execute(f"USE {DB}")
    c.execute("CREATE TABLE orders (id BIGINT NOT NULL, name VARCHAR(20) COMMENT 'who', amount DECIMAL(12,2)) "
              "PRIMARY KEY(id) COMMENT 'the orders' DISTRIBUTED BY HASH(id) BUCKETS 4")
    c.execute("CREATE TABLE events (ts DATETIME, kind VARCHAR(5)) DUPLICATE KEY(ts) DISTRIBUTED BY RANDOM")
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def rows(cur, sql: str, params=None):
    cur.execute(sql, params)
    return [tuple(r) for r in cur.fetchall()]


@pytest.mark.doc(f"{S}/Database/SHOW_DATABASES/")
def test_show_databases_lists_the_database(cur):
    names = [r[0] for r in rows(cur, "SHOW DATABASES")]
    assert DB in names and "information_schema" in names


@pytest.mark.doc(f"{S}/table_bucket_part_index/SHOW_TABLES/")
def test_show_tables(cur):
    assert rows(cur, f"SHOW TABLES FROM {DB}") == [("events",), ("orders",)]
    assert rows(cur, "SHOW TABLES LIKE 'ord%'") == [("orders",)]


@pytest.mark.doc(f"{S}/table_bucket_part_index/SHOW_TABLES/")
def test_show_full_tables_has_the_table_type(cur):
    assert rows(cur, "SHOW FULL TABLES LIKE 'orders'") == [("orders", "BASE TABLE")]


@pytest.mark.doc(f"{S}/table_bucket_part_index/SHOW_CREATE_TABLE/")
def test_show_create_table_has_keys_distribution_and_comments(cur):
    (name, ddl), = rows(cur, "SHOW CREATE TABLE orders")
    assert name == "orders"
    assert "PRIMARY KEY(`id`)" in ddl
    assert "DISTRIBUTED BY HASH(`id`) BUCKETS 4" in ddl
    assert "`amount` decimal(12,2)" in ddl
    assert 'COMMENT "who"' in ddl and 'COMMENT "the orders"' in ddl


@pytest.mark.doc(f"{S}/table_bucket_part_index/SHOW_FULL_COLUMNS/")
def test_show_full_columns(cur):
    got = rows(cur, "SHOW FULL COLUMNS FROM orders")
    assert [r[0] for r in got] == ["id", "name", "amount"]
    assert got[1][-1] == "who"


@pytest.mark.doc(f"{S}/table_bucket_part_index/DESCRIBE/")
def test_describe_shows_key_and_nullability(cur):
    got = {r[0]: r for r in rows(cur, "DESC orders")}
    assert got["id"][2:4] == ("NO", "true")
    assert got["name"][2:4] == ("YES", "false")


@pytest.mark.doc(f"{IS}/tables/")
def test_information_schema_tables(cur):
    got = rows(cur, "SELECT table_name, table_type, table_comment FROM information_schema.tables "
                    "WHERE table_schema = %s ORDER BY table_name", (DB,))
    assert got == [("events", "BASE TABLE", ""), ("orders", "BASE TABLE", "the orders")]


@pytest.mark.doc(f"{IS}/columns/")
def test_information_schema_columns(cur):
    got = rows(cur, "SELECT column_name, ordinal_position, data_type, column_type, is_nullable, column_key "
                    "FROM information_schema.columns WHERE table_schema = %s AND table_name = 'orders' "
                    "ORDER BY ordinal_position", (DB,))
    assert got == [("id", 1, "bigint", "bigint(20)", "NO", "PRI"),
                   ("name", 2, "varchar", "varchar(20)", "YES", ""),
                   ("amount", 3, "decimal", "decimal(12,2)", "YES", "")]


@pytest.mark.doc(f"{S}/table_bucket_part_index/SHOW_ALTER/")
def test_show_alter_table_column_lists_the_schema_change(cur):
    cur.execute("ALTER TABLE events ADD COLUMN extra INT")
    jobs = rows(cur, f"SHOW ALTER TABLE COLUMN FROM {DB}")
    assert jobs, "the ADD COLUMN job must be listed"
    names = [d[0] for d in cur.description]
    assert names[:2] == ["JobId", "TableName"] and "State" in names
    job = dict(zip(names, jobs[-1]))
    assert job["TableName"] == "events" and job["State"] == "FINISHED"


@pytest.mark.doc(f"{S}/table_bucket_part_index/SHOW_ALTER/")
def test_show_alter_table_column_filters_orders_and_limits(cur):
    cur.execute("ALTER TABLE orders ADD COLUMN note VARCHAR(10)")
    cur.execute("ALTER TABLE orders DROP COLUMN note")
    jobs = rows(cur, f"SHOW ALTER TABLE COLUMN FROM {DB} WHERE TableName = %s ORDER BY CreateTime DESC LIMIT 1",
                ("orders",))
    assert len(jobs) == 1 and jobs[0][1] == "orders"
    assert rows(cur, f"SHOW ALTER TABLE COLUMN FROM {DB} WHERE TableName = 'nothing'") == []


@pytest.mark.doc(f"{S}/cluster-management/config_vars/SHOW_VARIABLES/")
def test_show_variables_still_answers_the_version(cur):
    got = dict(rows(cur, "SHOW VARIABLES LIKE 'version_comment'"))
    assert got["version_comment"].startswith("StarRocks version 3.3.")
