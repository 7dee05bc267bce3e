"""The change sensor over hundreds of tables, against the SQL Server stand-in through pymssql:
a tick asks SQL Server about every table in one query per database (counted at the client, the
same with 30 or 300 tables configured), and only the tables written since the last tick get a
run, one run per group with exactly those tables' assets."""

from __future__ import annotations

import json

import dagster as dg
import pymssql
import pytest

from mssql_starrocks.defs.migration import sensors
from mssql_starrocks.defs.migration.resources import MssqlResource
from mssql_starrocks.lib.config import load_plans
from mssql_starrocks.lib.tables import table_keys
from mssql_starrocks.source.mssql import MssqlClient

DB = "sensor300"
TABLES = 300
SCHEMAS = ("dbo", "sales")  # even tables in dbo, odd in sales: two groups: <db>_dbo and <db>_sales


def _connect(devservers, database="master"):
    return pymssql.connect(server=devservers["MSSQL_HOST"], port=int(devservers["MSSQL_PORT"]),
                           user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"],
                           database=database, autocommit=True, tds_version="7.4")


def _name(i: int) -> tuple[str, str]:
    return SCHEMAS[i % 2], f"t{i:03d}"


@pytest.fixture(scope="module")
def many(devservers, tmp_path_factory):
    conn = _connect(devservers)
    conn.cursor().execute(f"CREATE DATABASE {DB}")
    conn.close()
    conn = _connect(devservers, DB)
    cur = conn.cursor()
    cur.execute("CREATE SCHEMA sales")
    cur.execute(";\n".join(f"CREATE TABLE {s}.{t} (id INT NOT NULL PRIMARY KEY, v INT NULL)"
                           for s, t in map(_name, range(TABLES))))
    cur.execute("INSERT INTO dbo.t000 VALUES (1, 1)")
    work = tmp_path_factory.mktemp("sensor300")
    paths = {}
    for n in (30, TABLES):
        path = work / f"tables{n}.yaml"
        path.write_text(f"version: 1\ndatabase: {DB}\ndefaults: {{schedule: null}}\ntables:\n" + "".join(
            f"  - {{schema: {s}, name: {t}, key_columns: [id]}}\n" for s, t in map(_name, range(n))))
        paths[n] = path
    resource = MssqlResource(host=devservers["MSSQL_HOST"], port=int(devservers["MSSQL_PORT"]),
                             user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"],
                             database=DB, encrypt=False)
    yield {"conn": conn, "paths": paths, "mssql": resource}
    conn.close()


class QueryCounter:
    """Counts the queries the product's SQL Server client sends (each goes to the stand-in)."""

    def __init__(self, monkeypatch):
        self.sql: list[str] = []
        real = MssqlClient.query

        def counted(client, sql, params=None):
            self.sql.append(sql)
            return real(client, sql, params)

        monkeypatch.setattr(MssqlClient, "query", counted)


def _tick(sensor, resource, cursor=None):
    with dg.build_sensor_context(cursor=cursor, resources={"mssql": resource}) as context:
        return sensor.evaluate_tick(context)


def test_a_tick_over_300_tables_asks_sql_server_once_and_runs_only_changed_tables(many, monkeypatch):
    plans = load_plans(many["paths"][TABLES])
    assert len(plans) == TABLES
    sensor = sensors._build_change_sensor(plans=plans, minimum_interval_seconds=30)
    counter = QueryCounter(monkeypatch)

    first = _tick(sensor, many["mssql"])
    assert not first.run_requests
    assert len(json.loads(first.cursor)) == TABLES  # every table has a signature
    assert len(counter.sql) == 1, counter.sql  # one query for 300 tables of one database

    counter.sql.clear()
    quiet = _tick(sensor, many["mssql"], first.cursor)
    assert not quiet.run_requests and len(counter.sql) == 1
    assert json.loads(quiet.cursor) == json.loads(first.cursor)

    # Write three tables: two in dbo, one in sales (a row added, a row updated in place).
    cur = many["conn"].cursor()
    cur.execute("INSERT INTO dbo.t002 VALUES (1, 1)")
    cur.execute("UPDATE dbo.t000 SET v = 2 WHERE id = 1")
    cur.execute("INSERT INTO sales.t011 VALUES (1, 1), (2, 2)")
    counter.sql.clear()
    changed = _tick(sensor, many["mssql"], quiet.cursor)
    assert len(counter.sql) == 1
    by_group = {r.tags["mssql_starrocks/group"]: r for r in changed.run_requests}
    assert sorted(by_group) == [f"{DB}_dbo", f"{DB}_sales"]  # one run per group, not one per table
    wanted = {f"{DB}_dbo": ("dbo.t000", "dbo.t002"), f"{DB}_sales": ("sales.t011",)}
    by_label = {p.source_label: p for p in plans}
    for group, tables in wanted.items():
        request = by_group[group]
        assert set(request.asset_selection) == {k for t in tables for k in table_keys(by_label[f"{DB}.{t}"]).all}
        assert request.tags["mssql_starrocks/tables"] == str(len(tables))
    before, after = json.loads(quiet.cursor), json.loads(changed.cursor)
    assert {label for label in after if after[label] != before[label]} == {f"{DB}.{t}" for ts in wanted.values()
                                                                           for t in ts}

    # The same tick again (a retried evaluation) asks for the same runs under the same keys.
    again = _tick(sensor, many["mssql"], quiet.cursor)
    assert sorted(r.run_key for r in again.run_requests) == sorted(r.run_key for r in changed.run_requests)
    # And nothing more once the cursor has moved on.
    assert not _tick(sensor, many["mssql"], changed.cursor).run_requests


def test_the_number_of_queries_does_not_grow_with_the_tables(many, monkeypatch):
    counter = QueryCounter(monkeypatch)
    counts = {}
    for n, path in sorted(many["paths"].items()):
        sensor = sensors._build_change_sensor(plans=load_plans(path), minimum_interval_seconds=30)
        counter.sql.clear()
        result = _tick(sensor, many["mssql"])
        assert len(json.loads(result.cursor)) == n
        counts[n] = len(counter.sql)
    assert counts == {30: 1, TABLES: 1}


def test_a_table_gone_from_sql_server_keeps_its_signature_and_starts_nothing(many, monkeypatch):
    plans = load_plans(many["paths"][30])
    sensor = sensors._build_change_sensor(plans=plans, minimum_interval_seconds=30)
    first = _tick(sensor, many["mssql"])
    many["conn"].cursor().execute("DROP TABLE sales.t029")
    try:
        second = _tick(sensor, many["mssql"], first.cursor)
    finally:
        many["conn"].cursor().execute("CREATE TABLE sales.t029 (id INT NOT NULL PRIMARY KEY, v INT NULL)")
    assert not second.run_requests
    assert json.loads(second.cursor)[f"{DB}.sales.t029"] == json.loads(first.cursor)[f"{DB}.sales.t029"]
