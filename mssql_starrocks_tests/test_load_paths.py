"""The load path setting (`starrocks.load_path`) and the SQL the catalog path sends to StarRocks.

The statements are parsed as StarRocks SQL (sqlglot's starrocks dialect) and run, translated,
on DuckDB tables standing for the Iceberg table, its landing and the StarRocks table, so what
they select and delete is checked, not only their text.
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from mssql_starrocks.lib.config import TablesFileError, load_plans
from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.mapping import typemap
from mssql_starrocks.target.load_paths import LoadPathError, catalog, refuse_unusable
from mssql_starrocks.target.load_paths.catalog import CatalogPath
from mssql_starrocks.target.load_paths.stream_load import StreamLoadPath


def write(tmp_path, text: str):
    path = tmp_path / "tables.yaml"
    path.write_text(text)
    return path


# --- the setting -------------------------------------------------------------------------------
def test_stream_load_is_the_default_and_the_defaults_load_path_applies_field_by_field(tmp_path):
    plans = {p.spec.name: p for p in load_plans(write(tmp_path, """
database: d
defaults:
  starrocks: {load_path: catalog, buckets: 4}
tables:
  - {schema: dbo, name: a}
  - {schema: dbo, name: b, key_columns: [id], starrocks: {model: primary_key}}
  - {schema: dbo, name: c, starrocks: {load_path: stream_load}}
"""))}
    assert isinstance(plans["a"].load_path, CatalogPath)
    # A table setting its model keeps the defaults' load path and buckets.
    assert isinstance(plans["b"].load_path, CatalogPath)
    assert (plans["b"].starrocks.model, plans["b"].starrocks.buckets) == ("primary_key", 4)
    assert isinstance(plans["c"].load_path, StreamLoadPath)
    default = load_plans(write(tmp_path, "database: d\ntables:\n  - {schema: dbo, name: t}\n"))[0]
    assert isinstance(default.load_path, StreamLoadPath)


def test_an_unknown_load_path_is_refused_naming_file_table_and_field(tmp_path):
    path = write(tmp_path, "database: d\ntables:\n  - {schema: dbo, name: t, starrocks: {load_path: jdbc}}\n")
    with pytest.raises(TablesFileError) as err:
        load_plans(path)
    assert str(err.value) == (f"{path}: table dbo.t: starrocks.load_path: Input should be 'stream_load' or "
                              "'catalog'")


def _plans(tmp_path):
    return load_plans(write(tmp_path, """
database: d
tables:
  - {schema: dbo, name: a, starrocks: {load_path: catalog}}
  - {schema: dbo, name: b, starrocks: {load_path: catalog}}
  - {schema: dbo, name: c}
"""))


def test_the_local_iceberg_catalog_is_refused_for_the_catalog_path_in_one_message(tmp_path):
    with pytest.raises(LoadPathError) as err:
        refuse_unusable(_plans(tmp_path), iceberg_catalog_type="local", starrocks_catalog="lake")
    message = str(err.value)
    assert message.count("\n") == 0
    assert "table(s) dbo.a, dbo.b have starrocks.load_path catalog" in message
    assert "StarRocks cannot read the local Iceberg catalog" in message and "ICEBERG_CATALOG_TYPE=glue" in message
    assert "dbo.c" not in message


def test_the_catalog_path_needs_the_name_of_the_external_catalog(tmp_path):
    with pytest.raises(LoadPathError, match="STARROCKS_ICEBERG_CATALOG is not set"):
        refuse_unusable(_plans(tmp_path), iceberg_catalog_type="glue", starrocks_catalog=None)
    refuse_unusable(_plans(tmp_path), iceberg_catalog_type="glue", starrocks_catalog="lake")  # usable
    stream_only = [p for p in _plans(tmp_path) if p.spec.name == "c"]
    refuse_unusable(stream_only, iceberg_catalog_type="local", starrocks_catalog=None)  # Stream Load needs neither


def test_definitions_refuse_the_catalog_path_on_the_local_catalog(monkeypatch, tmp_path):
    from mssql_starrocks.lib import tables

    monkeypatch.setenv("MSSQL_STARROCKS_TABLES_FILE", str(write(
        tmp_path, "database: d\ntables:\n  - {schema: dbo, name: a, starrocks: {load_path: catalog}}\n")))
    monkeypatch.setenv("ICEBERG_CATALOG_TYPE", "local")
    monkeypatch.setenv("STARROCKS_ICEBERG_CATALOG", "lake")
    tables._cached.cache_clear()
    from mssql_starrocks.defs.migration import resources

    with pytest.raises(LoadPathError, match="StarRocks cannot read the local Iceberg catalog"):
        resources.defs()
    tables._cached.cache_clear()


def test_the_catalog_name_is_a_starrocks_setting():
    from mssql_starrocks.settings import starrocks_settings

    base = {"STARROCKS_HOST": "h", "STARROCKS_USER": "u", "STARROCKS_PASSWORD": "p"}
    assert starrocks_settings(base).iceberg_catalog is None
    assert starrocks_settings({**base, "STARROCKS_ICEBERG_CATALOG": "lake_glue"}).iceberg_catalog == "lake_glue"


# --- the SQL -----------------------------------------------------------------------------------
def _schema(keys: list[str]) -> sch.TableSchemaPlan:
    columns = [typemap.SourceColumn(name="id", data_type="int", max_length=None, precision=None, scale=None,
                                    nullable=False, ordinal=1),
               typemap.SourceColumn(name="part", data_type="int", max_length=None, precision=None, scale=None,
                                    nullable=False, ordinal=2),
               typemap.SourceColumn(name="name", data_type="nvarchar", max_length=100, precision=None, scale=None,
                                    nullable=True, ordinal=3)]
    return sch.build("d.dbo.t", columns, key_columns=keys)


SOURCE = catalog.external_table("lake", "d_dbo", "t")
LANDING = catalog.external_table("lake", "d_dbo", "t__raw")


def _duckdb(schema_plan: sch.TableSchemaPlan, *, iceberg, landing, starrocks):
    """DuckDB with schemas standing for the external catalog (lake.d_dbo) and StarRocks (d_dbo)."""
    db = duckdb.connect()
    names = [c.name for c in schema_plan.starrocks_order()]
    duck = {"int": "INTEGER", "string": "VARCHAR", "timestamp": "TIMESTAMP"}
    cols = ", ".join(f'"{c.name}" {duck[c.spark_type]}' for c in schema_plan.starrocks_order())
    db.execute("ATTACH ':memory:' AS lake")
    db.execute("CREATE SCHEMA lake.d_dbo")
    db.execute("CREATE SCHEMA d_dbo")
    for table, rows in (("lake.d_dbo.t", iceberg), ("lake.d_dbo.t__raw", landing), ("d_dbo.t", starrocks)):
        db.execute(f"CREATE TABLE {table} ({cols})")
        for row in rows:
            values = list(row) + [None] * (len(names) - len(row))
            db.execute(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in names)})", values)
    return db


def _run(db, statement: str) -> None:
    parsed = sqlglot.parse_one(statement, read="starrocks")  # valid StarRocks SQL
    db.execute(parsed.sql(dialect="duckdb"))


def test_full_insert_reads_every_column_of_the_external_table_in_starrocks_order():
    plan = _schema(["id"])
    sql = catalog.full_insert_sql("d_dbo", "t__load_abc", SOURCE, plan)
    assert sql.startswith("INSERT INTO `d_dbo`.`t__load_abc` (`id`, `part`, `name`, ")
    assert f"FROM {SOURCE} AS t" in sql and "`lake`.`d_dbo`.`t`" in sql
    db = _duckdb(plan, iceberg=[(1, 1, "a"), (2, 1, "b")], landing=[], starrocks=[])
    db.execute('CREATE TABLE d_dbo."t__load_abc" AS SELECT * FROM d_dbo.t')
    _run(db, sql)
    assert db.execute('SELECT id, name FROM d_dbo."t__load_abc" ORDER BY id').fetchall() == [(1, "a"), (2, "b")]


@pytest.mark.parametrize("keys", [["id"], ["id", "part"]])
def test_a_delta_deletes_keys_gone_from_iceberg_and_upserts_the_changed_rows(keys):
    plan = _schema(keys)
    # StarRocks before: 1, 2, 3. Iceberg now: 1 updated, 3 deleted, 4 inserted, 2 unchanged.
    # The landing lists the changed keys (1, 3, 4) and, for the composite key, (3, 2) which
    # never existed.
    db = _duckdb(plan, iceberg=[(1, 1, "one v2"), (2, 1, "two"), (4, 1, "four")],
                 landing=[(1, 1, "one v2"), (3, 1, None), (4, 1, "four"), (3, 2, None)],
                 starrocks=[(1, 1, "one"), (2, 1, "two"), (3, 1, "three")])
    delete = catalog.delete_sql("d_dbo", "t", SOURCE, LANDING, plan)
    upsert = catalog.upsert_sql("d_dbo", "t", SOURCE, LANDING, plan)
    if len(keys) == 1:
        assert delete.startswith("DELETE FROM `d_dbo`.`t` WHERE `id` IN (SELECT DISTINCT r.`id` FROM ")
    else:
        assert " USING (SELECT DISTINCT r.`id`, r.`part` FROM " in delete
    _run(db, delete)
    assert db.execute("SELECT id FROM d_dbo.t ORDER BY id").fetchall() == [(1,), (2,)]
    # A primary-key table upserts: here the rows the INSERT selects replace their keys.
    selected = sqlglot.parse_one(upsert, read="starrocks").expression.sql(dialect="duckdb")
    rows = db.execute(f"SELECT id, part, name FROM ({selected}) ORDER BY id").fetchall()
    assert rows == [(1, 1, "one v2"), (4, 1, "four")]
    assert upsert.startswith("INSERT INTO `d_dbo`.`t` (`id`, `part`, `name`, ")


def test_the_documented_catalog_ddl_carries_no_keys():
    ddl = catalog.catalog_ddl("lake_glue", "eu-west-1")
    assert ddl.startswith("CREATE EXTERNAL CATALOG lake_glue PROPERTIES (")
    for prop in ('"type" = "iceberg"', '"iceberg.catalog.type" = "glue"', '"aws.glue.use_instance_profile" = "true"',
                 '"aws.s3.use_instance_profile" = "true"', '"aws.glue.region" = "eu-west-1"',
                 '"enable_iceberg_metadata_cache" = "false"'):
        assert prop in ddl
    assert "access_key" not in ddl and "secret_key" not in ddl
    assert catalog.session_statements() == ["SET time_zone = '+00:00'"]


# --- the snapshot proof ------------------------------------------------------------------------
class _Client:
    """StarRocks as the catalog path talks to it: statements recorded, tables dropped noted."""

    def __init__(self):
        from mssql_starrocks.target.starrocks import StarRocksSettings

        self.settings = StarRocksSettings(host="h", query_port=9030, http_port=8030, user="u", password="p",
                                          iceberg_catalog="lake")
        self.sessions: list[list[str]] = []
        self.dropped: list[str] = []

    def run_in_session(self, statements):
        self.sessions.append(statements)
        return [0] * len(statements)

    def drop_table(self, database, table):
        self.dropped.append(f"{database}.{table}")

    def tables_like(self, database, prefix):
        return []

    def execute(self, sql, params=None):
        return []


def _job(tmp_path, client):
    from mssql_starrocks.lake.iceberg import Snapshot
    from mssql_starrocks.target.load_paths import LoadJob

    plan = load_plans(write(tmp_path, "database: d\ntables:\n  - {schema: dbo, name: t, key_columns: [id], "
                                      "starrocks: {load_path: catalog}}\n"))[0]
    snapshot = Snapshot(7, None, "overwrite", {"total-records": "3"})
    return LoadJob(spark=None, client=client, plan=plan, source="lake.`d_dbo`.`t`", landing="lake.`d_dbo`.`t__raw`",
                   landing_name="t__raw", snapshot=snapshot, schema_plan=_schema(["id"]), run_id="run-1",
                   log=lambda message: None)


def test_a_snapshot_that_moves_while_starrocks_reads_it_fails_the_load_and_drops_the_staging_table(
        tmp_path, monkeypatch):
    current = iter([7, 8])  # before the INSERT the snapshot loaded, after it a newer one
    monkeypatch.setattr(catalog.ice, "current_snapshot_id", lambda spark, table: next(current))
    client = _Client()
    with pytest.raises(catalog.SnapshotMoved, match=r"moved while StarRocks read it \(expected \(7,\), current \(8,\)\)"):
        CatalogPath().full_reload(_job(tmp_path, client))
    assert len(client.sessions) == 1  # the INSERT ran once, in a session reading timestamps as UTC
    session = client.sessions[0]
    assert session[0] == "SET time_zone = '+00:00'" and session[1].startswith("INSERT INTO `d_dbo`.`t__load_run1`")
    assert client.dropped[-1] == "d_dbo.t__load_run1"  # the unproven staging table is not swapped in
    assert not isinstance(catalog.SnapshotMoved("x"), LoadPathError)  # transient: the retry redoes the load


def test_a_snapshot_already_moved_before_the_insert_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog.ice, "current_snapshot_id", lambda spark, table: 9)
    client = _Client()
    with pytest.raises(catalog.SnapshotMoved, match="moved before StarRocks read it"):
        CatalogPath().full_reload(_job(tmp_path, client))
    assert client.sessions == []
