"""Statements StarRocks 3.3 has but the stand-in does not implement fail loudly ("not supported by the
stand-in: ..."); statements StarRocks cannot parse are syntax errors (1064); nothing answers a silent OK."""

from __future__ import annotations

import pymysql
import pytest

from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect

DB = "cf_sr_unsupported"
S = "https://docs.starrocks.io/docs/sql-reference/sql-statements"


@pytest.fixture(scope="module")
def cur(devservers):
    conn = connect(devservers)
    c = conn.cursor()
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    c.execute(f"CREATE DATABASE {DB}")
    c.execute(f"CREATE TABLE {DB}.t (id INT NOT NULL, v VARCHAR(10)) PRIMARY KEY(id) DISTRIBUTED BY HASH(id)")
    c.execute(f"USE {DB}")
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


UNSUPPORTED = [
    ("CREATE MATERIALIZED VIEW mv1 REFRESH ASYNC AS SELECT id FROM t",
     f"{S}/materialized_view/CREATE_MATERIALIZED_VIEW/"),
    ("ANALYZE TABLE t", f"{S}/cbo_stats/ANALYZE_TABLE/"),
    ("GRANT SELECT ON TABLE t TO USER 'root'", f"{S}/account-management/GRANT/"),
    ("REVOKE SELECT ON TABLE t FROM USER 'root'", f"{S}/account-management/REVOKE/"),
    ("CREATE VIEW v1 AS SELECT id FROM t", f"{S}/View/CREATE_VIEW/"),
    ("CREATE ROLE r1", f"{S}/account-management/CREATE_ROLE/"),
    ("SHOW PARTITIONS FROM t", f"{S}/table_bucket_part_index/SHOW_PARTITIONS/"),
    ("SHOW ALTER TABLE ROLLUP", f"{S}/table_bucket_part_index/SHOW_ALTER/"),
    ("SHOW LOAD", f"{S}/loading_unloading/SHOW_LOAD/"),
    ("ALTER TABLE t ADD ROLLUP r1 (id)", f"{S}/table_bucket_part_index/ALTER_TABLE/"),
    ("ALTER TABLE t SET (\"replication_num\" = \"1\")", f"{S}/table_bucket_part_index/ALTER_TABLE/"),
    ("CANCEL ALTER TABLE COLUMN FROM t", f"{S}/table_bucket_part_index/CANCEL_ALTER_TABLE/"),
    ("CREATE TABLE ctas1 AS SELECT id FROM t", f"{S}/table_bucket_part_index/CREATE_TABLE_AS_SELECT/"),
    ("CREATE TABLE agg1 (k INT, v BIGINT SUM) AGGREGATE KEY(k) DISTRIBUTED BY HASH(k)",
     "https://docs.starrocks.io/docs/table_design/table_types/aggregate_table/"),
    ("EXPLAIN SELECT id FROM t", f"{S}/cluster-management/plan_profile/EXPLAIN/"),
    ("SUBMIT TASK AS INSERT INTO t SELECT * FROM t", f"{S}/loading_unloading/ETL/SUBMIT_TASK/"),
    ("ADMIN SET FRONTEND CONFIG (\"max_routine_load_task_num_per_be\" = \"10\")",
     f"{S}/cluster-management/config_vars/ADMIN_SET_CONFIG/"),
    ("DROP MATERIALIZED VIEW IF EXISTS mv1", f"{S}/materialized_view/DROP_MATERIALIZED_VIEW/"),
    ("INSERT INTO t PARTITION (p1) VALUES (1, 'a')", f"{S}/loading_unloading/INSERT/"),
]


@pytest.mark.parametrize("statement", [pytest.param(s, marks=pytest.mark.doc(u), id=s.split(" (")[0][:40])
                                       for s, u in UNSUPPORTED])
def test_unimplemented_statement_fails_loudly(cur, statement):
    with pytest.raises(pymysql.MySQLError) as err:
        cur.execute(statement)
    assert err.value.args[1].startswith("not supported by the stand-in: "), err.value.args


INVALID = ["SHOW FOOBAR", "FOOBAR TABLE t", "SELEC 1", "SHOW TABLESS"]


@pytest.mark.doc("https://docs.starrocks.io/docs/reference/Error_code/")
@pytest.mark.parametrize("statement", INVALID)
def test_invalid_sql_is_a_syntax_error(cur, statement):
    with pytest.raises(pymysql.MySQLError) as err:
        cur.execute(statement)
    assert err.value.args[0] == 1064
    assert "syntax error" in err.value.args[1].lower(), err.value.args


@pytest.mark.doc(f"{S}/View/CREATE_VIEW/")
def test_a_refused_statement_changes_nothing(cur):
    with pytest.raises(pymysql.MySQLError):
        cur.execute("CREATE VIEW v2 AS SELECT id FROM t")
    cur.execute("SHOW TABLES")
    assert [r[0] for r in cur.fetchall()] == ["t"]
