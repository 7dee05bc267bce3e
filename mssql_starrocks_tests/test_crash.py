"""Crash safety: a run killed with SIGKILL at a real point, then simply run again, loses and
doubles no row in either target.

Each case changes the source (inserts, updates, deletes), starts `dagster asset materialize`
for the table's chain in its own process group, waits until the run is at the point under test,
kills the whole group with SIGKILL, and runs the chain again. The points:

- during extract: the SQL Server stand-in streams the changed rows slowly (its test-only fault
  procedure), so the kill lands while mssql-jdbc is reading them;
- during the Iceberg step: the kill lands when the MERGE's new data files appear in the table's
  directory, i.e. after the write and before (or while) Iceberg commits;
- during the StarRocks load: the StarRocks stand-in holds each Stream Load after reading its
  body, so the kill lands while a load is in flight; the load then commits on the server
  without the client ever learning it, the nastiest case for exactly-once;
- during a delta through StarRocks' Iceberg external catalog (load_path catalog, Glue): the
  kill lands once StarRocks has applied the delta's DELETE, before the state is recorded.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from mssql_starrocks_tests import e2e

DB, TABLE = "crash", "orders_big"
SELECT = f"raw/{DB}/dbo/{TABLE}*"
TABLES_YAML = f"""
version: 1
database: {DB}
tables:
  - schema: dbo
    name: {TABLE}
    load_mode: incremental
    key_columns: [id]
    watermark_column: rv
    delete_detection: true
    starrocks: {{model: primary_key, buckets: 2}}
"""


def sql(devservers, statement: str, database: str = DB):
    return e2e.mssql_rows(devservers, statement, database=database)


def source_table(devservers, database: str) -> None:
    """The table in `database`, 20,000 rows, re-created."""
    sql(devservers, f"IF DB_ID('{database}') IS NULL CREATE DATABASE [{database}]", database="master")
    sql(devservers, f"IF OBJECT_ID('dbo.{TABLE}') IS NOT NULL DROP TABLE dbo.{TABLE}", database=database)
    sql(devservers, f"CREATE TABLE dbo.{TABLE} (id INT NOT NULL PRIMARY KEY, name NVARCHAR(60) NOT NULL, qty INT, "
                    "note NVARCHAR(200), rv ROWVERSION)", database=database)
    sql(devservers, f"INSERT INTO dbo.{TABLE} (id, name, qty, note) SELECT value, CONCAT(N'order ', value), value % 97, "
                    "REPLICATE(N'x', value % 150) FROM GENERATE_SERIES(1, 20000)", database=database)


@pytest.fixture(scope="module")
def crash(devservers, tmp_path_factory):
    work = tmp_path_factory.mktemp("crash")
    source_table(devservers, DB)
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    (work / "home").mkdir()
    (work / "home" / "dagster.yaml").write_text("")
    env = e2e.product_env(devservers, work, tables_file, DAGSTER_HOME=str(work / "home"),
                          ICEBERG_SPARK_CATALOG_NAME="crashlake")
    state = {"env": env, "work": work, "devservers": devservers, "db": DB, "select": SELECT,
             "data_dir": Path(work / "iceberg" / "warehouse" / f"{DB}_dbo" / TABLE / "data"), "next_id": 20001}
    first = run_to_end(state, "initial")
    assert first.returncode == 0, first.stdout[-3000:]
    assert_targets_equal_source(state)
    return state


# --- running and killing ----------------------------------------------------------------------
def start(state, name: str) -> tuple[subprocess.Popen, Path]:
    log = state["work"] / f"{name}.log"
    proc = subprocess.Popen([e2e.python_bin("dagster"), "asset", "materialize", "-m", "mssql_starrocks.definitions",
                             "--select", state["select"]], cwd=e2e.ROOT, env={**os.environ, **state["env"]},
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def run_to_end(state, name: str) -> subprocess.CompletedProcess:
    proc, log = start(state, name)
    proc.wait(timeout=900)
    return subprocess.CompletedProcess(proc.args, proc.returncode, log.read_text(), "")


def step_events(log: Path, event: str, layer: str, db: str = DB) -> bool:
    return re.search(rf"{event}\b.*\b{layer}__{db}__dbo__{TABLE}", log.read_text()) is not None


def wait_for(condition, what: str, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc={proc.returncode}) before {what}")
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its Spark JVM, no clean-up of any kind
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


# --- the layers -------------------------------------------------------------------------------
def change_source(state) -> int:
    """Insert 1500 rows, update 400, delete 100; returns how many rows changed."""
    devservers, first, db = state["devservers"], state["next_id"], state["db"]
    state["next_id"] += 1500
    sql(devservers, f"INSERT INTO dbo.{TABLE} (id, name, qty, note) SELECT value, CONCAT(N'new ', value), 1, N'n' "
                    f"FROM GENERATE_SERIES({first}, {first + 1499})", database=db)
    lo = first % 15000
    sql(devservers, f"UPDATE dbo.{TABLE} SET qty = qty + 1000, note = N'updated' WHERE id BETWEEN {lo} AND {lo + 399}",
        database=db)
    sql(devservers, f"DELETE FROM dbo.{TABLE} WHERE id BETWEEN {lo + 1000} AND {lo + 1099}", database=db)
    state["deleted"] = lo + 1000
    return 1500 + 400 + 100


def iceberg_table(state):
    """The Iceberg table as an independent reader sees it now (pyiceberg on the same catalog)."""
    from pyiceberg.catalog.sql import SqlCatalog

    if state["db"] != DB:  # the Glue catalog
        from mssql_starrocks_tests.test_glue_faults import catalog

        return catalog(state).load_table(f"{state['db']}_dbo.{TABLE}")
    root = state["work"] / "iceberg"
    catalog = SqlCatalog("crashlake", uri=f"sqlite:///{root / 'catalog.db'}", warehouse=(root / "warehouse").as_uri())
    return catalog.load_table(f"{DB}_dbo.{TABLE}")


def layers(state):
    devservers, db = state["devservers"], state["db"]
    source = sorted(tuple(r) for r in sql(devservers, f"SELECT id, name, qty, note FROM dbo.{TABLE}", database=db))
    data = iceberg_table(state).scan(selected_fields=("id", "name", "qty", "note")).to_arrow()
    iceberg = sorted(zip(*(data.column(c).to_pylist() for c in ("id", "name", "qty", "note"))))
    starrocks = sorted(tuple(r) for r in e2e.starrocks_rows(devservers, f"SELECT id, name, qty, note FROM {db}_dbo.{TABLE}"))
    return source, iceberg, starrocks


def assert_targets_equal_source(state) -> None:
    source, iceberg, starrocks = layers(state)
    ids = [r[0] for r in source]
    assert len(ids) == len(set(ids))
    assert [r[0] for r in iceberg] == ids, "Iceberg lost or doubled rows"
    assert [r[0] for r in starrocks] == ids, "StarRocks lost or doubled rows"
    assert iceberg == source
    assert starrocks == source


def iceberg_snapshots(state) -> int:
    return len(iceberg_table(state).snapshots())


def latest_metadata(state, layer: str) -> dict:
    import dagster as dg
    from dagster._core.instance import InstanceRef

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(state["env"]["DAGSTER_HOME"])) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey([layer, state["db"], "dbo", TABLE]))
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def rerun_and_check(state, name: str, expect_extract: int | None) -> None:
    done = run_to_end(state, name)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "RUN_SUCCESS" in done.stdout
    # The killed run's table lock died with it (flock): the re-run takes it at once.
    assert f"{state['db']}.dbo.{TABLE}: holding the table lock for run" in done.stdout
    assert "waiting for the table lock" not in done.stdout
    assert_targets_equal_source(state)
    if expect_extract is not None:
        # Killed before its extract committed: the re-run reads exactly the changed rows again.
        raw = latest_metadata(state, "raw")
        assert (raw["extract_kind"], raw["dagster/row_count"]) == ("delta", expect_extract)


# --- the three kill points --------------------------------------------------------------------
def test_killed_during_extract_then_rerun_loses_and_doubles_nothing(crash):
    changed = change_source(crash)
    before = iceberg_snapshots(crash)
    e2e.mssql_rows(crash["devservers"], f"EXEC sys.sp_devservers_fault N'dbo.{TABLE}', N'slow', 0, 4000, 0",
                   database=DB)
    try:
        proc, log = start(crash, "kill-extract")
        wait_for(lambda: step_events(log, "STEP_START", "raw"), "the extract step to start", proc)
        time.sleep(3)  # the changed rows are being streamed (4 s per batch)
        assert not step_events(log, "STEP_SUCCESS", "raw")
        kill(proc)
    finally:
        e2e.mssql_rows(crash["devservers"], f"EXEC sys.sp_devservers_fault N'dbo.{TABLE}', N'clear'", database=DB)
    assert iceberg_snapshots(crash) == before  # nothing was committed by the killed run
    rerun_and_check(crash, "rerun-extract", expect_extract=changed)


def test_killed_during_the_iceberg_commit_step_then_rerun_loses_and_doubles_nothing(crash):
    change_source(crash)
    data_dir = crash["data_dir"]
    files_before = set(data_dir.rglob("*.parquet"))
    proc, log = start(crash, "kill-iceberg")
    wait_for(lambda: step_events(log, "STEP_START", "iceberg"), "the Iceberg step to start", proc)
    wait_for(lambda: bool(set(data_dir.rglob("*.parquet")) - files_before) or step_events(log, "STEP_SUCCESS", "iceberg"),
             "the MERGE to write its data files", proc)
    assert not step_events(log, "STEP_SUCCESS", "iceberg"), "the step finished before the kill point"
    kill(proc)
    assert not step_events(log, "STEP_START", "starrocks")
    rerun_and_check(crash, "rerun-iceberg", expect_extract=None)


def test_killed_during_the_starrocks_load_then_rerun_loses_and_doubles_nothing(crash):
    devservers = crash["devservers"]
    change_source(crash)
    fe = f"http://{devservers['STARROCKS_HOST']}:{devservers['STARROCKS_HTTP_PORT']}"
    auth = (devservers["STARROCKS_USER"], devservers["STARROCKS_PASSWORD"])
    reply = requests.post(f"{fe}/api/_devservers/fault", auth=auth, timeout=10,
                          json={"db": f"{DB}_dbo", "table": TABLE, "kind": "slow", "delay_ms": 3000, "times": 0})
    assert reply.json()["status"] == "OK"

    def loading() -> bool:
        loads = requests.get(f"{fe}/api/_devservers/loads", timeout=10).json()["loads"]
        return any(load["table"] == TABLE for load in loads)

    try:
        proc, log = start(crash, "kill-starrocks")
        wait_for(lambda: step_events(log, "STEP_START", "starrocks"), "the StarRocks step to start", proc)
        wait_for(loading, "a Stream Load in flight", proc)
        kill(proc)
    finally:
        requests.post(f"{fe}/api/_devservers/fault", auth=auth, timeout=10,
                      json={"db": f"{DB}_dbo", "table": TABLE, "kind": "clear"})
    rerun_and_check(crash, "rerun-starrocks", expect_extract=None)



# --- the catalog load path ----------------------------------------------------------------------
CATALOG_DB = "crashcat"
CATALOG = "lake_crashcat"


@pytest.fixture(scope="module")
def crash_catalog(devservers, tmp_path_factory):
    """The same table on the Glue catalog, loaded into StarRocks through its Iceberg external catalog."""
    from mssql_starrocks.target.load_paths import catalog as catalog_path

    work = tmp_path_factory.mktemp("crashcat")
    source_table(devservers, CATALOG_DB)
    e2e.starrocks_rows(devservers, f"DROP CATALOG IF EXISTS {CATALOG}")
    e2e.starrocks_rows(devservers, catalog_path.catalog_ddl(CATALOG, devservers["AWS_REGION"]))
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML.replace(f"database: {DB}", f"database: {CATALOG_DB}")
                           .replace("starrocks: {model: primary_key, buckets: 2}",
                                    "starrocks: {model: primary_key, buckets: 2, load_path: catalog}"))
    (work / "home").mkdir()
    (work / "home" / "dagster.yaml").write_text("")
    env = e2e.product_env(devservers, work, tables_file, DAGSTER_HOME=str(work / "home"),
                          ICEBERG_CATALOG_TYPE="glue", ICEBERG_WAREHOUSE=devservers["GLUE_WAREHOUSE"],
                          ICEBERG_SPARK_CATALOG_NAME="crashcat", ICEBERG_LOCAL_DIR=str(work / "local"),
                          STARROCKS_ICEBERG_CATALOG=CATALOG)
    state = {"env": env, "work": work, "devservers": devservers, "db": CATALOG_DB,
             "select": f"raw/{CATALOG_DB}/dbo/{TABLE}*", "next_id": 20001}
    first = run_to_end(state, "initial")
    assert first.returncode == 0, first.stdout[-3000:]
    assert latest_metadata(state, "starrocks")["load_path"] == "catalog"
    assert_targets_equal_source(state)
    return state


def test_killed_during_a_delta_through_the_starrocks_catalog_then_rerun_loses_and_doubles_nothing(crash_catalog):
    """The kill lands once StarRocks has applied the DELETE of the delta (a deleted key is gone
    from StarRocks), while or before its upsert runs and before the snapshot is recorded."""
    state = crash_catalog
    change_source(state)
    gone = state["deleted"]

    def deleted_in_starrocks() -> bool:
        return not e2e.starrocks_rows(state["devservers"], f"SELECT id FROM {CATALOG_DB}_dbo.{TABLE} WHERE id = {gone}")

    proc, log = start(state, "kill-catalog-delta")
    wait_for(lambda: step_events(log, "STEP_START", "starrocks", CATALOG_DB), "the StarRocks step to start", proc)
    wait_for(deleted_in_starrocks, "StarRocks to apply the delta's DELETE", proc)
    assert not step_events(log, "STEP_SUCCESS", "starrocks", CATALOG_DB), "the step finished before the kill point"
    kill(proc)
    rerun_and_check(state, "rerun-catalog-delta", expect_extract=None)
    assert latest_metadata(state, "starrocks")["load_path"] == "catalog"
