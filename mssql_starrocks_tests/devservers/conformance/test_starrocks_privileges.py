"""Users and privileges of the StarRocks stand-in, as StarRocks 3.3 documents them: CREATE USER,
GRANT/REVOKE on a database and on tables, SHOW GRANTS, and the access-denied error (5203) for SQL
and for Stream Load."""

from __future__ import annotations

import uuid

import pymysql
import pytest
import requests

from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect, fe_url

GRANT = "https://docs.starrocks.io/docs/3.3/sql-reference/sql-statements/account-management/GRANT/"
REVOKE = "https://docs.starrocks.io/docs/3.3/sql-reference/sql-statements/account-management/REVOKE/"
CREATE_USER = "https://docs.starrocks.io/docs/3.3/sql-reference/sql-statements/account-management/CREATE_USER/"
SHOW_GRANTS = "https://docs.starrocks.io/docs/3.3/sql-reference/sql-statements/account-management/SHOW_GRANTS/"
ITEMS = "https://docs.starrocks.io/docs/3.3/administration/user_privs/privilege_item/"
FAQ = "https://docs.starrocks.io/docs/3.3/administration/user_privs/privilege_faq/"
STREAM_LOAD = "https://docs.starrocks.io/docs/3.3/sql-reference/sql-statements/loading_unloading/STREAM_LOAD/"
DENIED = 5203


@pytest.fixture
def world(devservers):
    """A fresh database with one table, and a fresh user with no privileges; both removed after."""
    admin = connect(devservers)
    db, user, password = f"priv_{uuid.uuid4().hex[:8]}", f"u_{uuid.uuid4().hex[:8]}", "S3cret-pw"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"CREATE TABLE {db}.t (id INT, v VARCHAR(10)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    yield {"admin": admin, "db": db, "user": user, "password": password}
    with admin.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
    admin.close()


def as_user(devservers, world, database=None):
    return pymysql.connect(host=devservers["STARROCKS_HOST"], port=int(devservers["STARROCKS_QUERY_PORT"]),
                           user=world["user"], password=world["password"], database=database, autocommit=True)


@pytest.fixture
def conn(devservers, world):
    """A connection as the world's user."""
    connection = as_user(devservers, world)
    yield connection
    connection.close()


def run(connection, *statements) -> list[tuple]:
    """The statements in order; the last one's rows."""
    rows: list[tuple] = []
    with connection.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
            rows = list(cur.fetchall()) if cur.description else []
    return rows


def admin_run(world, *statements):
    return run(world["admin"], *statements)


def denied(connection, sql) -> str:
    with pytest.raises(pymysql.err.MySQLError) as info:
        run(connection, sql)
    code, message = info.value.args[0], info.value.args[1]
    assert code == DENIED, message
    return message


@pytest.mark.doc(CREATE_USER)
def test_created_user_logs_in_with_its_password_only(devservers, world):
    as_user(devservers, world).close()
    with pytest.raises(pymysql.err.OperationalError) as info:
        pymysql.connect(host=devservers["STARROCKS_HOST"], port=int(devservers["STARROCKS_QUERY_PORT"]),
                        user=world["user"], password="wrong")
    assert info.value.args[0] == 1045


@pytest.mark.doc(CREATE_USER)
def test_create_existing_user_fails_unless_if_not_exists(world):
    with pytest.raises(pymysql.err.MySQLError):
        admin_run(world, f"CREATE USER '{world['user']}' IDENTIFIED BY 'x'")
    admin_run(world, f"CREATE USER IF NOT EXISTS '{world['user']}' IDENTIFIED BY 'x'")


@pytest.mark.doc(ITEMS)
def test_new_user_has_no_privileges_and_insert_is_refused_with_5203(world, conn):
    message = denied(conn, f"INSERT INTO {world['db']}.t VALUES (1, 'a')")
    assert message.startswith("Access denied; you need (at least one of) the INSERT privilege(s) on TABLE t "
                              "for this operation.")
    denied(conn, f"SELECT * FROM {world['db']}.t")


@pytest.mark.doc(FAQ)
def test_all_on_all_tables_does_not_allow_create_table(world, conn):
    """The FAQ: ALL ON ALL TABLES IN DATABASE does not allow CREATE TABLE; CREATE TABLE ON DATABASE does."""
    db = world["db"]
    admin_run(world, f"GRANT ALL ON ALL TABLES IN DATABASE {db} TO USER '{world['user']}'@'%'")
    message = denied(conn, f"CREATE TABLE {db}.t2 (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    assert f"the CREATE TABLE privilege(s) on DATABASE {db} for this operation" in message
    admin_run(world, f"GRANT CREATE TABLE ON DATABASE {db} TO USER '{world['user']}'@'%'")
    # ALL TABLES covers a table created later.
    assert run(conn, f"CREATE TABLE {db}.t2 (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)",
               f"INSERT INTO {db}.t2 VALUES (1)", f"SELECT count(*) FROM {db}.t2") == [(1,)]
    run(conn, f"DROP TABLE {db}.t2")


@pytest.mark.doc(GRANT)
def test_table_privileges_are_separate(world, conn):
    db = world["db"]
    admin_run(world, f"GRANT INSERT, SELECT ON TABLE {db}.t TO USER '{world['user']}'@'%'")
    assert run(conn, f"INSERT INTO {db}.t VALUES (1, 'a')", f"SELECT count(*) FROM {db}.t") == [(1,)]
    assert "the DELETE privilege(s) on TABLE t" in denied(conn, f"DELETE FROM {db}.t WHERE id = 1")
    assert "the DROP privilege(s) on TABLE t" in denied(conn, f"DROP TABLE {db}.t")
    assert "the ALTER privilege(s) on TABLE t" in denied(conn, f"ALTER TABLE {db}.t ADD COLUMN w INT")


@pytest.mark.doc(GRANT)
def test_swap_needs_alter_on_both_tables(world, conn):
    db, user = world["db"], world["user"]
    admin_run(world, f"CREATE TABLE {db}.s (id INT, v VARCHAR(10)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)",
              f"GRANT ALTER ON TABLE {db}.t TO USER '{user}'@'%'")
    assert "the ALTER privilege(s) on TABLE s" in denied(conn, f"ALTER TABLE {db}.t SWAP WITH s")
    admin_run(world, f"GRANT ALTER ON TABLE {db}.s TO USER '{user}'@'%'")
    run(conn, f"ALTER TABLE {db}.t SWAP WITH s")


@pytest.mark.doc(REVOKE)
def test_revoke_takes_the_privilege_back(world, conn):
    db, user = world["db"], world["user"]
    admin_run(world, f"GRANT INSERT ON ALL TABLES IN DATABASE {db} TO USER '{user}'@'%'")
    run(conn, f"INSERT INTO {db}.t VALUES (1, 'a')")
    admin_run(world, f"REVOKE INSERT ON ALL TABLES IN DATABASE {db} FROM USER '{user}'@'%'")
    denied(conn, f"INSERT INTO {db}.t VALUES (2, 'b')")


@pytest.mark.doc(ITEMS)
def test_create_database_needs_the_catalog_privilege(world, conn):
    name = f"{world['db']}_new"
    message = denied(conn, f"CREATE DATABASE {name}")
    assert "the CREATE DATABASE privilege(s) on CATALOG default_catalog" in message
    admin_run(world, f"GRANT CREATE DATABASE ON CATALOG default_catalog TO USER '{world['user']}'@'%'")
    run(conn, f"CREATE DATABASE {name}")
    assert "the DROP privilege(s) on DATABASE" in denied(conn, f"DROP DATABASE {name}")
    admin_run(world, f"DROP DATABASE {name}")


@pytest.mark.doc(SHOW_GRANTS)
def test_show_grants_lists_each_grant(world, conn):
    db, user = world["db"], world["user"]
    admin_run(world, f"GRANT CREATE TABLE ON DATABASE {db} TO USER '{user}'@'%'",
              f"GRANT SELECT ON ALL TABLES IN DATABASE {db} TO USER '{user}'@'%'")
    with world["admin"].cursor() as cur:
        cur.execute(f"SHOW GRANTS FOR '{user}'@'%'")
        assert [d[0] for d in cur.description] == ["UserIdentity", "Catalog", "Grants"]
        grants = [row[2] for row in cur.fetchall()]
    assert f"GRANT CREATE TABLE ON DATABASE {db} TO USER '{user}'@'%'" in grants
    assert f"GRANT SELECT ON ALL TABLES IN DATABASE {db} TO USER '{user}'@'%'" in grants
    assert len(run(conn, "SHOW GRANTS")) == 2  # any user sees its own


@pytest.mark.doc(FAQ)
def test_show_tables_lists_only_tables_with_a_privilege(devservers, world):
    db, user = world["db"], world["user"]
    admin_run(world, f"CREATE TABLE {db}.hidden (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)",
              f"GRANT SELECT ON TABLE {db}.t TO USER '{user}'@'%'")
    in_db = as_user(devservers, world, database=db)
    try:
        assert run(in_db, "SHOW TABLES") == [("t",)]
    finally:
        in_db.close()


@pytest.mark.doc(GRANT)
def test_only_the_administrator_grants(world, conn):
    message = denied(conn, f"GRANT SELECT ON ALL TABLES IN DATABASE {world['db']} TO USER '{world['user']}'@'%'")
    assert "the GRANT privilege(s) on SYSTEM for this operation" in message


@pytest.mark.doc(GRANT)
def test_roles_fail_loudly(world):
    with pytest.raises(pymysql.err.MySQLError, match="not supported by the stand-in"):
        admin_run(world, "CREATE ROLE loader")
    with pytest.raises(pymysql.err.MySQLError, match="not supported by the stand-in"):
        admin_run(world, f"GRANT db_admin TO USER '{world['user']}'@'%'")


@pytest.mark.doc(STREAM_LOAD)
def test_stream_load_needs_insert_on_the_table(devservers, world):
    db, user = world["db"], world["user"]
    headers = {"Expect": "100-continue", "format": "json", "strip_outer_array": "true"}
    body = b'[{"id": 1, "v": "a"}]'

    def load() -> dict:
        redirect = requests.put(fe_url(devservers, db, "t"), headers=headers, auth=(user, world["password"]),
                                allow_redirects=False, timeout=30)
        assert redirect.status_code == 307, redirect.text
        return requests.put(redirect.headers["Location"], data=body, headers=headers,
                            auth=(user, world["password"]), timeout=30).json()

    reply = load()
    assert reply["Status"] == "Fail"
    assert reply["Message"].startswith("Access denied; you need (at least one of) the INSERT privilege(s) on "
                                       "TABLE t for this operation.")
    admin_run(world, f"GRANT INSERT ON TABLE {db}.t TO USER '{user}'@'%'")
    reply = load()
    assert reply["Status"] == "Success", reply
    assert reply["NumberLoadedRows"] == 1
