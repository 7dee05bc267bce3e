"""load_path catalog end to end, through Dagster against the stand-ins with the Glue catalog.

StarRocks reads the Iceberg snapshot itself through an Iceberg external catalog created with
the documented DDL the README gives an administrator (instance profile, no keys: the StarRocks
stand-in reaches the S3 + Glue stand-in it was started with). One table per load mode (full,
incremental with delete detection, change_tracking); after every run SQL Server, Iceberg and
StarRocks hold the same rows, every check passes, and no row went through Stream Load.
"""

from __future__ import annotations

import dagster as dg
import pytest

from mssql_starrocks.target.load_paths import catalog as catalog_path
from mssql_starrocks_tests import e2e
from mssql_starrocks_tests.test_faults import retries, step_failures

DB = "catpath"
NS = f"{DB}_dbo"
CATALOG = "lake_catpath"
TABLES = ("full_t", "wm_t", "ct_t")
TABLES_YAML = f"""
version: 1
database: {DB}
defaults:
  starrocks: {{load_path: catalog}}
tables:
  - {{schema: dbo, name: full_t, key_columns: [id]}}
  - {{schema: dbo, name: wm_t, load_mode: incremental, key_columns: [id], watermark_column: rv, delete_detection: true}}
  - {{schema: dbo, name: ct_t, load_mode: change_tracking, key_columns: [id]}}
"""


def sql(devservers, statement: str, database: str = DB):
    return e2e.mssql_rows(devservers, statement, database=database)


@pytest.fixture(scope="module")
def catpath(devservers, tmp_path_factory, spark):
    work = tmp_path_factory.mktemp("catpath")
    sql(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    sql(devservers, f"ALTER DATABASE [{DB}] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)",
        database="master")
    for table in TABLES:
        sql(devservers, f"IF OBJECT_ID('dbo.{table}') IS NOT NULL DROP TABLE dbo.{table}")
        rv = ", rv ROWVERSION" if table == "wm_t" else ""
        sql(devservers, f"CREATE TABLE dbo.{table} (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50), qty INT, "
                        f"seen DATETIMEOFFSET(3){rv})")
        if table == "ct_t":
            sql(devservers, "ALTER TABLE dbo.ct_t ENABLE CHANGE_TRACKING")
        sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty) SELECT value, CONCAT(N'item ', value), value % 17 "
                        "FROM GENERATE_SERIES(1, 299)")
        sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty, seen) VALUES "
                        "(300, N'item 300', 11, '2024-05-06 07:08:09.123 +02:00')")
    # The administrator's part: the catalog as the README gives it (no keys).
    e2e.starrocks_rows(devservers, f"DROP CATALOG IF EXISTS {CATALOG}")
    e2e.starrocks_rows(devservers, catalog_path.catalog_ddl(CATALOG, devservers["AWS_REGION"]))
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    env = e2e.product_env(devservers, work, tables_file, ICEBERG_CATALOG_TYPE="glue",
                          ICEBERG_WAREHOUSE=devservers["GLUE_WAREHOUSE"], ICEBERG_SPARK_CATALOG_NAME="catpath",
                          ICEBERG_LOCAL_DIR=str(work / "local"), STARROCKS_ICEBERG_CATALOG=CATALOG)
    with e2e.environ(env):
        defs = e2e.load_definitions()
    state = {"env": env, "defs": defs, "instance": dg.DagsterInstance.ephemeral(), "devservers": devservers,
             "next_id": 301}
    with e2e.jvm_aws_keys(spark, devservers):
        state["first"] = run(state, "*")
        yield state


def run(state, selection: str, env: dict | None = None):
    with e2e.environ({**state["env"], **(env or {})}):
        defs = e2e.load_definitions() if env else state["defs"]
        return e2e.run_assets(defs, selection, state["instance"], raise_on_error=False)


def iceberg_rows(state, table: str) -> list[tuple]:
    from mssql_starrocks_tests.test_glue_faults import catalog

    data = catalog(state).load_table(f"{NS}.{table}").scan(selected_fields=("id", "name", "qty")).to_arrow()
    return sorted(zip(*(data.column(c).to_pylist() for c in ("id", "name", "qty"))))


def assert_layers_equal(state) -> None:
    devservers = state["devservers"]
    for table in TABLES:
        source = sorted(tuple(r) for r in sql(devservers, f"SELECT id, name, qty FROM dbo.{table}"))
        starrocks = sorted(tuple(r) for r in e2e.starrocks_rows(devservers, f"SELECT id, name, qty FROM {NS}.{table}"))
        assert iceberg_rows(state, table) == source, table
        assert starrocks == source, table


def assert_every_check_passed(result) -> None:
    checks = e2e.check_results(result)
    assert len(checks) == 5 * len(TABLES)
    failed = {key: ev.description for key, ev in checks.items() if not ev.passed}
    assert failed == {}


def starrocks_metadata(result) -> dict[str, dict]:
    mats = e2e.materializations(result)
    return {table: mats[f"starrocks/{DB}/dbo/{table}"] for table in TABLES if f"starrocks/{DB}/dbo/{table}" in mats}


def test_every_load_mode_loads_through_the_catalog_and_every_check_passes(catpath):
    first = catpath["first"]
    assert first.success, step_failures(first)
    assert_every_check_passed(first)
    assert_layers_equal(catpath)
    for table, meta in starrocks_metadata(first).items():
        assert meta["load_path"] == "catalog" and meta["load_kind"] == "full", (table, meta)
        labels = [entry["label"] for entry in meta["load_labels"]]
        assert labels == [f"INSERT INTO staging SELECT FROM `{CATALOG}`.`{NS}`.`{table}`"], labels
        assert meta["loaded_rows"] == 300 and meta["load_bytes"] == 0  # no JSON went over HTTP
    # DATETIMEOFFSET: the UTC instant, read by StarRocks from the Iceberg timestamptz as UTC.
    seen = e2e.starrocks_rows(catpath["devservers"], f"SELECT seen FROM {NS}.full_t WHERE id = 300")
    assert [r[0].isoformat(sep=" ", timespec="milliseconds") for r in seen] == ["2024-05-06 05:08:09.123"]


def change_source(state) -> None:
    """Per table: 40 inserts, 25 updates, 15 deletes."""
    first = state["next_id"]
    state["next_id"] += 40
    for table in TABLES:
        sql(state["devservers"], f"INSERT INTO dbo.{table} (id, name, qty, seen) SELECT value, CONCAT(N'new ', value), "
                                 f"1, NULL FROM GENERATE_SERIES({first}, {first + 39})")
        sql(state["devservers"], f"UPDATE dbo.{table} SET qty = qty + 100, name = N'updated' "
                                 f"WHERE id BETWEEN {first % 200 + 1} AND {first % 200 + 25}")
        sql(state["devservers"], f"DELETE FROM dbo.{table} WHERE id BETWEEN {first % 200 + 51} AND {first % 200 + 65}")


def test_deltas_upsert_and_delete_through_the_catalog_and_every_check_passes(catpath):
    change_source(catpath)
    result = run(catpath, "*")
    assert result.success, step_failures(result)
    assert_every_check_passed(result)
    assert_layers_equal(catpath)
    meta = starrocks_metadata(result)
    assert meta["full_t"]["load_kind"] == "full"
    for table in ("wm_t", "ct_t"):
        m = meta[table]
        assert (m["load_path"], m["load_kind"]) == ("catalog", "delta"), m
        assert "row(s) upserted from landing snapshot" in m["load_reason"] and CATALOG in m["load_reason"]
        assert [entry["label"].split(",")[0] for entry in m["load_labels"]] == \
            ["DELETE keys gone", "INSERT (upsert) rows of changed keys"]
        assert m["loaded_rows"] == 40 + 25  # the inserted and updated rows, nothing else
    # The snapshot StarRocks holds is recorded, and the row-count check is pinned to it.
    for table in TABLES:
        recorded = e2e.starrocks_rows(catpath["devservers"], f"SELECT iceberg_snapshot_id FROM {NS}.mssql_starrocks_state "
                                                             f"WHERE table_name = '{table}'")
        assert [str(r[0]) for r in recorded] == [str(meta[table]["iceberg_snapshot_id"])]


def test_a_missing_external_catalog_fails_before_anything_is_written_with_one_message(catpath):
    devservers = catpath["devservers"]
    before = sorted(e2e.starrocks_rows(devservers, f"SELECT id, name, qty FROM {NS}.full_t"))
    tables_before = sorted(r[0] for r in e2e.starrocks_rows(devservers, f"SHOW TABLES FROM {NS}"))
    sql(devservers, "UPDATE dbo.full_t SET qty = qty + 1")
    result = run(catpath, f"raw/{DB}/dbo/full_t*", env={"STARROCKS_ICEBERG_CATALOG": "no_such_catalog"})
    assert not result.success
    failures = step_failures(result)
    assert len(failures) == 1, failures
    message = failures[0]
    assert "StarRocks cannot read Iceberg table(s) catpath_dbo.full_t through its external catalog no_such_catalog" \
        in message
    assert "StarRocks has no catalog no_such_catalog" in message and "Nothing was written to StarRocks" in message
    assert 'CREATE EXTERNAL CATALOG no_such_catalog PROPERTIES ("type" = "iceberg"' in message
    assert message.endswith("[starrocks load]"), message
    assert retries(result) == 0  # permanent: not retried
    assert sorted(e2e.starrocks_rows(devservers, f"SELECT id, name, qty FROM {NS}.full_t")) == before
    assert sorted(r[0] for r in e2e.starrocks_rows(devservers, f"SHOW TABLES FROM {NS}")) == tables_before
    # A catalog that caches Iceberg metadata (the default) is refused the same way.
    cached = catalog_path.catalog_ddl("lake_cached", devservers["AWS_REGION"]).replace(
        ', "enable_iceberg_metadata_cache" = "false"', "")
    e2e.starrocks_rows(devservers, "DROP CATALOG IF EXISTS lake_cached")
    e2e.starrocks_rows(devservers, cached)
    result = run(catpath, f"starrocks/{DB}/dbo/full_t", env={"STARROCKS_ICEBERG_CATALOG": "lake_cached"})
    message = step_failures(result)[0]
    assert "StarRocks' external catalog lake_cached caches Iceberg metadata" in message, message
    assert "Nothing was written to StarRocks [starrocks load]" in message and retries(result) == 0
    assert sorted(e2e.starrocks_rows(devservers, f"SELECT id, name, qty FROM {NS}.full_t")) == before
    # With the catalog named again the table converges.
    result = run(catpath, f"raw/{DB}/dbo/full_t*")
    assert result.success, step_failures(result)
    assert_layers_equal(catpath)


def test_an_unreachable_external_catalog_fails_before_anything_is_written_with_one_message(catpath):
    """The catalog exists in StarRocks, but its Glue endpoint is down: one message naming the
    catalog (and StarRocks' error, which names the endpoint), retried as a network fault is, and
    StarRocks left exactly as it was."""
    devservers = catpath["devservers"]
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens there
    down = catalog_path.catalog_ddl("lake_down", devservers["AWS_REGION"]).replace(
        "PROPERTIES (", f'PROPERTIES ("aws.glue.endpoint" = "{dead}", ')
    e2e.starrocks_rows(devservers, "DROP CATALOG IF EXISTS lake_down")
    e2e.starrocks_rows(devservers, down)

    def starrocks_state():
        return (sorted(e2e.starrocks_rows(devservers, f"SELECT id, name, qty FROM {NS}.full_t")),
                sorted(r[0] for r in e2e.starrocks_rows(devservers, f"SHOW TABLES FROM {NS}")),
                sorted(e2e.starrocks_rows(devservers, f"SELECT table_name, iceberg_snapshot_id "
                                                      f"FROM {NS}.mssql_starrocks_state")))

    before = starrocks_state()
    try:
        result = run(catpath, f"starrocks/{DB}/dbo/full_t", env={"STARROCKS_ICEBERG_CATALOG": "lake_down"})
    finally:
        e2e.starrocks_rows(devservers, "DROP CATALOG lake_down")
    assert not result.success
    failures = step_failures(result)
    assert len(failures) == 1, failures
    message = failures[0]
    assert (f"{DB}.dbo.full_t: StarRocks cannot read Iceberg table(s) {NS}.full_t through its external catalog "
            f"lake_down (starrocks.load_path catalog): StarRocks has catalog lake_down but cannot list its database "
            f"{NS}: ") in message, message
    assert dead in message  # StarRocks' own error names the endpoint it cannot reach
    assert "Nothing was written to StarRocks" in message
    assert "is down or unreachable from StarRocks" in message and "SHOW CREATE CATALOG lake_down" in message
    assert "CREATE EXTERNAL CATALOG" not in message  # it exists: no DDL to create it
    assert retries(result) == 2  # a network fault: retried, then the same one message
    assert starrocks_state() == before


def test_check_shows_that_starrocks_sees_the_catalog(catpath, tmp_path):
    from mssql_starrocks_tests.test_cli import mssql_starrocks

    env_file = tmp_path / ".env"
    env = {**catpath["env"], "MSSQL_DATABASE": DB}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    done = mssql_starrocks(["--env-file", str(env_file), "check"])
    lines = {line[5:27].strip(): line for line in done.stdout.splitlines()}
    assert lines["StarRocks catalog"].startswith("OK"), done.stdout + done.stderr
    assert f"StarRocks sees external catalog {CATALOG}" in lines["StarRocks catalog"]
    assert "for 3 table(s)" in lines["StarRocks catalog"]
    # The rights probe of the catalog tables' database deletes a row too (their deltas are DELETEs).
    assert lines["StarRocks rights"] == (f"OK   StarRocks rights       {NS}: user {env['STARROCKS_USER']} may create, "
                                         "Stream Load into, read, alter, delete and drop tables")
    assert "needs USAGE on catalog" in done.stdout
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {**env, "STARROCKS_ICEBERG_CATALOG": "nope"}.items()))
    done = mssql_starrocks(["--env-file", str(env_file), "check"])
    lines = {line[5:27].strip(): line for line in done.stdout.splitlines()}
    assert done.returncode == 1 and lines["StarRocks catalog"].startswith("FAIL")
    assert "StarRocks has no catalog nope" in lines["StarRocks catalog"]
