"""Two runs of one table at once, as two `dagster asset materialize` processes: the second waits
for the whole first run (the product's table lock), a third that may not wait gives up with one
message naming the table and the run holding it, and the targets end exactly equal to the
source, every row once, with the Iceberg commits in one line of history.

The Dagster instance has no pool limits here (an empty dagster.yaml), so only the product's
lock keeps the runs apart; the pool limit the scripts ship is checked separately.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from mssql_starrocks_tests import e2e

DB, TABLE = "concur", "orders"
LABEL = f"{DB}.dbo.{TABLE}"
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
RUN_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def sql(devservers, statement: str, database: str = DB):
    return e2e.mssql_rows(devservers, statement, database=database)


@pytest.fixture(scope="module")
def concur(devservers, tmp_path_factory):
    work = tmp_path_factory.mktemp("concur")
    sql(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    sql(devservers, f"IF OBJECT_ID('dbo.{TABLE}') IS NOT NULL DROP TABLE dbo.{TABLE}")
    sql(devservers, f"CREATE TABLE dbo.{TABLE} (id INT NOT NULL PRIMARY KEY, name NVARCHAR(60) NOT NULL, qty INT, "
                    "rv ROWVERSION)")
    sql(devservers, f"INSERT INTO dbo.{TABLE} (id, name, qty) SELECT value, CONCAT(N'order ', value), value % 97 "
                    "FROM GENERATE_SERIES(1, 8000)")
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    (work / "home").mkdir()
    (work / "home" / "dagster.yaml").write_text("")
    env = e2e.product_env(devservers, work, tables_file, DAGSTER_HOME=str(work / "home"),
                          ICEBERG_SPARK_CATALOG_NAME="concurlake")
    state = {"env": env, "work": work, "devservers": devservers}
    first, log = start(state, "initial")
    assert first.wait(timeout=600) == 0, log.read_text()[-3000:]
    return state


def start(state, name: str, **extra_env: str) -> tuple[subprocess.Popen, Path]:
    log = state["work"] / f"{name}.log"
    proc = subprocess.Popen([e2e.python_bin("dagster"), "asset", "materialize", "-m", "mssql_starrocks.definitions",
                             "--select", SELECT], cwd=e2e.ROOT, env={**os.environ, **state["env"], **extra_env},
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def wait_for_text(log: Path, pattern: str, proc: subprocess.Popen, timeout: float = 300.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc={proc.returncode}) before /{pattern}/:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for /{pattern}/ in {log}")


def run_id_of(log: Path) -> str:
    return re.search(rf"({RUN_ID}) - \d+ - RUN_START", log.read_text()).group(1)


def iceberg_table(state, table: str = TABLE):
    from pyiceberg.catalog.sql import SqlCatalog

    root = state["work"] / "iceberg"
    catalog = SqlCatalog("concurlake", uri=f"sqlite:///{root / 'catalog.db'}", warehouse=(root / "warehouse").as_uri())
    return catalog.load_table(f"{DB}_dbo.{table}")


def layers(state):
    devservers = state["devservers"]
    source = sorted(tuple(r) for r in sql(devservers, f"SELECT id, name, qty FROM dbo.{TABLE}"))
    data = iceberg_table(state).scan(selected_fields=("id", "name", "qty")).to_arrow()
    iceberg = sorted(zip(*(data.column(c).to_pylist() for c in ("id", "name", "qty"))))
    starrocks = sorted(tuple(r) for r in e2e.starrocks_rows(devservers, f"SELECT id, name, qty FROM {DB}_dbo.{TABLE}"))
    return source, iceberg, starrocks


def runs_of_snapshots(table) -> dict[int, str]:
    return {s.snapshot_id: s.summary.additional_properties.get("mssql_starrocks.run_id") for s in table.snapshots()}


def ancestors(table, snapshot_id: int) -> list[int]:
    by_id = {s.snapshot_id: s for s in table.snapshots()}
    out = []
    while snapshot_id is not None:
        out.append(snapshot_id)
        snapshot_id = by_id[snapshot_id].parent_snapshot_id
    return out


def test_a_second_run_of_a_table_waits_for_the_first_and_one_that_may_not_wait_fails_naming_it(concur):
    devservers = concur["devservers"]
    sql(devservers, f"INSERT INTO dbo.{TABLE} (id, name, qty) SELECT value, CONCAT(N'new ', value), 1 "
                    "FROM GENERATE_SERIES(8001, 9000)")
    sql(devservers, f"UPDATE dbo.{TABLE} SET qty = qty + 1000 WHERE id BETWEEN 100 AND 599")
    sql(devservers, f"DELETE FROM dbo.{TABLE} WHERE id BETWEEN 2000 AND 2099")
    before = iceberg_table(concur)
    snapshots_before = {s.snapshot_id for s in before.snapshots()}
    # The first run's extract crawls (every read of the table sleeps 1 s) while the others queue up.
    sql(devservers, f"EXEC sys.sp_devservers_fault N'dbo.{TABLE}', N'slow', 0, 1000, 0")
    try:
        first, first_log = start(concur, "first")
        holding = wait_for_text(first_log, rf"{LABEL}: holding the table lock for run ({RUN_ID})", first)
        first_run = holding.group(1)
        second, second_log = start(concur, "second")
        impatient, impatient_log = start(concur, "impatient", MSSQL_STARROCKS_LOCK_TIMEOUT_S="1")
        assert impatient.wait(timeout=300) != 0
        wait_for_text(second_log, rf"{LABEL}: waiting for the table lock \(extract\): run {first_run} holds it", second)
        assert first.poll() is None, "the first run ended before the others were waiting"
    finally:
        sql(devservers, f"EXEC sys.sp_devservers_fault N'dbo.{TABLE}', N'clear'")
    assert first.wait(timeout=600) == 0, first_log.read_text()[-4000:]
    assert second.wait(timeout=600) == 0, second_log.read_text()[-4000:]
    first_out, second_out, impatient_out = (p.read_text() for p in (first_log, second_log, impatient_log))
    assert "RUN_SUCCESS" in first_out and "RUN_SUCCESS" in second_out
    second_run, impatient_run = run_id_of(second_log), run_id_of(impatient_log)
    assert len({first_run, second_run, impatient_run}) == 3

    # The impatient run: one message naming the table and the run holding it; no retry, no change.
    assert re.search(rf"{LABEL}: another run is migrating this table: run {first_run} holds it since .*"
                     r"changed nothing\. Run it again when that run has finished\. \[extract\]", impatient_out)
    assert "STEP_UP_FOR_RETRY" not in impatient_out and "RUN_FAILURE" in impatient_out
    # The second run took the lock only after the first run had ended (its last step is the check).
    waited = re.search(rf"{LABEL}: holding the table lock for run {second_run} until it ends \(waited (\d+)s\)",
                       second_out)
    assert waited and int(waited.group(1)) >= 1

    # Both targets equal the source, row by row, every key once.
    source, iceberg, starrocks = layers(concur)
    ids = [r[0] for r in source]
    assert len(ids) == len(set(ids)) == 8000 + 1000 - 100
    assert [r[0] for r in iceberg] == ids and [r[0] for r in starrocks] == ids
    assert iceberg == source and starrocks == source

    # Iceberg: readable metadata, one line of history: the first run's commit, then the second's on top.
    table = iceberg_table(concur)
    assert Path(table.metadata_location.removeprefix("file:")).exists()
    by_run = {run: sid for sid, run in runs_of_snapshots(table).items() if sid not in snapshots_before}
    assert set(by_run) == {first_run, second_run}  # the impatient run committed nothing
    current = table.current_snapshot().snapshot_id
    assert by_run[second_run] == current
    assert by_run[first_run] in ancestors(table, current)
    landing = iceberg_table(concur, TABLE + "__raw")
    assert impatient_run not in runs_of_snapshots(landing).values()
    # The first run merged the changes (deletes are found by delete detection); the second found none.
    changes = {run: table.snapshot_by_id(sid).summary.additional_properties["mssql_starrocks.source_change_count"]
               for run, sid in by_run.items()}
    assert changes == {first_run: str(1000 + 500), second_run: "0"}
    state = e2e.starrocks_rows(devservers, f"SELECT iceberg_snapshot_id, run_id FROM {DB}_dbo.mssql_starrocks_state "
                                           f"WHERE table_name = '{TABLE}'")
    assert state == [(current, second_run)]


@pytest.mark.integration  # a subprocess
def test_the_scripts_dagster_home_queues_runs_of_one_table_behind_each_other(tmp_path):
    """`make demo` / `make dagit` install a dagster.yaml giving each table's pool one run at a time."""
    home = tmp_path / "home"
    done = subprocess.run([str(e2e.ROOT / "scripts" / "dagster_home.sh")], env={**os.environ, "DAGSTER_HOME": str(home)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    from dagster._core.instance import InstanceRef
    from dagster._core.instance.config import PoolGranularity

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert (pools.default_pool_limit, pools.pool_granularity) == (1, PoolGranularity.RUN)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"  # the one that enforces it
    # The pools are per table: a table's three steps share one, two tables never do.
    tables_file = tmp_path / "tables.yaml"
    tables_file.write_text(f"version: 1\ndatabase: {DB}\ntables:\n  - {{schema: dbo, name: a}}\n  - {{schema: dbo, name: b}}\n")
    settings = {name: "unused" for name in ("MSSQL_HOST", "MSSQL_USER", "MSSQL_PASSWORD", "STARROCKS_HOST",
                                            "STARROCKS_USER", "STARROCKS_PASSWORD")}
    with e2e.environ({**settings, "MSSQL_STARROCKS_TABLES_FILE": str(tables_file), "ICEBERG_CATALOG_TYPE": "local"}):
        defs = e2e.load_definitions()
    pools = {key.to_user_string(): defs.resolve_assets_def(key).op.pool
             for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert pools == {f"{layer}/{DB}/dbo/{t}": f"table_{DB}_dbo_{t}" for layer in ("raw", "iceberg", "starrocks")
                     for t in ("a", "b")}
    # A DAGSTER_HOME that has its own configuration keeps it.
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    subprocess.run([str(e2e.ROOT / "scripts" / "dagster_home.sh")], env={**os.environ, "DAGSTER_HOME": str(home)},
                   check=True, timeout=60)
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
