"""INSERT, INSERT OVERWRITE, CREATE TABLE LIKE, ALTER TABLE SWAP WITH / ADD / DROP / MODIFY COLUMN, TRUNCATE."""

from __future__ import annotations

import pymysql
import pytest

from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect

DB = "cf_sr_dml"
S = "https://docs.starrocks.io/docs/sql-reference/sql-statements"
INSERT = f"{S}/loading_unloading/INSERT/"
ALTER = f"{S}/table_bucket_part_index/ALTER_TABLE/"


@pytest.fixture(scope="module")
def cur(devservers):
    conn = connect(devservers)
    c = conn.cursor()
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    c.execute(f"CREATE DATABASE {DB}")
    c.execute(f"USE {DB}")
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def rows(cur, sql: str):
    cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


def make(cur, name: str, model: str = "DUPLICATE"):
    cur.execute(f"DROP TABLE IF EXISTS {name}")
    cur.execute(f"CREATE TABLE {name} (id INT NOT NULL, v VARCHAR(10)) {model} KEY(id) DISTRIBUTED BY HASH(id)")


@pytest.mark.doc(INSERT)
def test_insert_values_reports_affected_rows(cur):
    make(cur, "ins")
    assert cur.execute("INSERT INTO ins VALUES (1, 'a'), (2, 'b')") == 2
    assert rows(cur, "SELECT id, v FROM ins ORDER BY id") == [(1, "a"), (2, "b")]


@pytest.mark.doc(INSERT)
def test_insert_with_column_list_fills_the_rest_with_null(cur):
    make(cur, "inscol")
    cur.execute("INSERT INTO inscol (id) VALUES (1)")
    assert rows(cur, "SELECT id, v FROM inscol") == [(1, None)]


@pytest.mark.doc(INSERT)
def test_insert_select(cur):
    make(cur, "src")
    make(cur, "dst")
    cur.execute("INSERT INTO src VALUES (1, 'a'), (2, 'b')")
    cur.execute("INSERT INTO dst SELECT id, v FROM src WHERE id = 2")
    assert rows(cur, "SELECT id, v FROM dst") == [(2, "b")]


@pytest.mark.doc(INSERT)
def test_insert_overwrite_replaces_the_content(cur):
    make(cur, "ow")
    cur.execute("INSERT INTO ow VALUES (1, 'old'), (2, 'old')")
    cur.execute("INSERT OVERWRITE ow VALUES (3, 'new')")
    assert rows(cur, "SELECT id, v FROM ow") == [(3, "new")]


@pytest.mark.doc(INSERT)
def test_insert_value_count_mismatch_fails(cur):
    make(cur, "cnt")
    with pytest.raises(pymysql.MySQLError):
        cur.execute("INSERT INTO cnt VALUES (1)")
    assert rows(cur, "SELECT COUNT(*) FROM cnt") == [(0,)]


@pytest.mark.doc(INSERT)
def test_insert_is_all_or_nothing_when_a_row_fails(cur):
    make(cur, "atomic")
    with pytest.raises(pymysql.MySQLError):
        cur.execute("INSERT INTO atomic VALUES (1, 'ok'), (2, 'much too long')")
    assert rows(cur, "SELECT COUNT(*) FROM atomic") == [(0,)]


@pytest.mark.doc(f"{S}/table_bucket_part_index/CREATE_TABLE_LIKE/")
def test_create_table_like_copies_the_schema_not_the_rows(cur):
    make(cur, "likesrc", "PRIMARY")
    cur.execute("INSERT INTO likesrc VALUES (1, 'a')")
    cur.execute("CREATE TABLE likecopy LIKE likesrc")
    assert rows(cur, "SELECT COUNT(*) FROM likecopy") == [(0,)]
    (_, ddl), = rows(cur, "SHOW CREATE TABLE likecopy")
    assert "PRIMARY KEY(`id`)" in ddl and "CREATE TABLE `likecopy`" in ddl


@pytest.mark.doc(ALTER)
def test_swap_with_exchanges_contents(cur):
    make(cur, "swa")
    make(cur, "swb")
    cur.execute("INSERT INTO swa VALUES (1, 'a')")
    cur.execute("INSERT INTO swb VALUES (2, 'b'), (3, 'b')")
    cur.execute("ALTER TABLE swa SWAP WITH swb")
    assert rows(cur, "SELECT COUNT(*) FROM swa") == [(2,)]
    assert rows(cur, "SELECT COUNT(*) FROM swb") == [(1,)]


@pytest.mark.doc(ALTER)
def test_swap_with_missing_table_fails(cur):
    make(cur, "swc")
    with pytest.raises(pymysql.MySQLError):
        cur.execute("ALTER TABLE swc SWAP WITH no_such_table")


@pytest.mark.doc(ALTER)
def test_add_column_after_and_drop_column(cur):
    make(cur, "alt")
    cur.execute("INSERT INTO alt VALUES (1, 'a')")
    cur.execute("ALTER TABLE alt ADD COLUMN n INT DEFAULT '5' AFTER id")
    assert rows(cur, "SELECT id, n, v FROM alt") == [(1, 5, "a")]
    cur.execute("ALTER TABLE alt DROP COLUMN n")
    assert [r[0] for r in rows(cur, "DESC alt")] == ["id", "v"]


@pytest.mark.doc(ALTER)
def test_key_column_cannot_be_dropped(cur):
    make(cur, "altkey", "PRIMARY")
    with pytest.raises(pymysql.MySQLError):
        cur.execute("ALTER TABLE altkey DROP COLUMN id")


@pytest.mark.doc(ALTER)
def test_modify_column_widens_varchar_but_not_narrows(cur):
    make(cur, "altmod")
    cur.execute("ALTER TABLE altmod MODIFY COLUMN v VARCHAR(50)")
    assert rows(cur, "SELECT column_type FROM information_schema.columns WHERE table_schema = 'cf_sr_dml' "
                     "AND table_name = 'altmod' AND column_name = 'v'") == [("varchar(50)",)]
    with pytest.raises(pymysql.MySQLError):
        cur.execute("ALTER TABLE altmod MODIFY COLUMN v VARCHAR(5)")


@pytest.mark.doc(f"{S}/table_bucket_part_index/TRUNCATE_TABLE/")
def test_truncate_empties_the_table(cur):
    make(cur, "tr")
    cur.execute("INSERT INTO tr VALUES (1, 'a')")
    cur.execute("TRUNCATE TABLE tr")
    assert rows(cur, "SELECT COUNT(*) FROM tr") == [(0,)]


@pytest.mark.doc("https://docs.starrocks.io/docs/table_design/table_types/primary_key_table/")
def test_primary_key_column_cannot_be_modified(cur):
    cur.execute("DROP TABLE IF EXISTS pkmod")
    cur.execute("CREATE TABLE pkmod (id INT NOT NULL, v VARCHAR(10)) PRIMARY KEY(id) DISTRIBUTED BY HASH(id)")
    with pytest.raises(pymysql.MySQLError):
        cur.execute("ALTER TABLE pkmod MODIFY COLUMN id BIGINT")
    cur.execute("ALTER TABLE pkmod MODIFY COLUMN v VARCHAR(20)")


@pytest.mark.doc("https://docs.starrocks.io/docs/reference/System_limit/")
def test_table_names_are_case_sensitive_column_names_are_not(cur):
    make(cur, "casetab")
    cur.execute("INSERT INTO casetab VALUES (1, 'a')")
    assert rows(cur, "SELECT ID, V FROM casetab") == [(1, "a")]
    with pytest.raises(pymysql.MySQLError) as err:
        cur.execute("SELECT * FROM CASETAB")
    assert err.value.args[0] == 1051
