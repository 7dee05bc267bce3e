"""Faults on the wire, injected by the stand-ins: bounded retries where retrying is safe, one clear
failure where it is not, and in every case targets that are either as before the run or exactly
equal to the source (compared row by row), never half-written or doubled.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import requests

from mssql_starrocks_tests import e2e

DB = "faults"
TABLES_YAML = f"""
version: 1
database: {DB}
tables:
  - schema: dbo
    name: full_t
    key_columns: [id]
  - schema: dbo
    name: inc_t
    load_mode: incremental
    key_columns: [id]
    watermark_column: rv
"""


def sql(devservers, statement: str):
    return e2e.mssql_rows(devservers, statement, database=DB)


@pytest.fixture(scope="module")
def env(devservers, tmp_path_factory, spark):
    work = tmp_path_factory.mktemp("faults")
    e2e.mssql_rows(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    for table, extra in (("full_t", ""), ("inc_t", ", rv ROWVERSION")):
        sql(devservers, f"IF OBJECT_ID('dbo.{table}') IS NOT NULL DROP TABLE dbo.{table}")
        sql(devservers, f"CREATE TABLE dbo.{table} (id INT NOT NULL PRIMARY KEY, name NVARCHAR(40), qty INT{extra})")
        sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty) SELECT value, CONCAT(N'row ', value), value % 13 "
                        "FROM GENERATE_SERIES(1, 12000)")
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    product = e2e.product_env(devservers, work, tables_file)
    with e2e.environ(product):
        defs = e2e.load_definitions()
    state = {"env": product, "defs": defs, "instance": dg.DagsterInstance.ephemeral(), "devservers": devservers,
             "spark": spark}
    for table in ("full_t", "inc_t"):
        assert run(state, table).success
        assert_equal(state, table)
    return state


def run(state, table: str):
    with e2e.environ(state["env"]):
        return e2e.run_assets(state["defs"], f"raw/{DB}/dbo/{table}*", state["instance"], raise_on_error=False)


def layers(state, table: str):
    source = sorted(tuple(r) for r in sql(state["devservers"], f"SELECT id, name, qty FROM dbo.{table}"))
    iceberg = sorted(tuple(r) for r in state["spark"].sql(f"SELECT id, name, qty FROM lake.{DB}_dbo.{table}").collect())
    starrocks = sorted(tuple(r) for r in e2e.starrocks_rows(state["devservers"],
                                                            f"SELECT id, name, qty FROM {DB}_dbo.{table}"))
    return source, iceberg, starrocks


def assert_equal(state, table: str) -> None:
    source, iceberg, starrocks = layers(state, table)
    assert iceberg == source
    assert starrocks == source


def snapshot_id(state, table: str) -> int:
    return state["spark"].sql(f"SELECT snapshot_id FROM lake.{DB}_dbo.{table}.snapshots "
                              "ORDER BY committed_at DESC LIMIT 1").collect()[0][0]


def step_failures(result) -> list[str]:
    """The messages of failed steps, with what they wrap ("Exceeded max_retries" wraps the last error)."""
    out = []
    for e in result.all_events:
        if e.event_type_value == "STEP_FAILURE":
            error, text = e.event_specific_data.error, []
            while error is not None:
                text.append(error.message.strip())
                error = error.cause
            out.append(" <- ".join(text))
    return out


def retries(result) -> int:
    return sum(1 for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY")


def assert_failure_recorded_on_the_asset(state, result, asset: str, text: str, table: str = "full_t",
                                         step: str = "extract") -> str:
    """The run-failure sensor records the failure on the table's asset: table, step and error."""
    from mssql_starrocks.defs.migration.sensors import migration_failure_sensor

    instance = state["instance"]
    failure = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0].dagster_event
    context = dg.build_run_status_sensor_context(
        sensor_name="migration_failure_sensor", dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id), dagster_event=failure).for_run_failure()
    migration_failure_sensor(context)
    records = instance.get_event_records(dg.EventRecordsFilter(
        event_type=dg.DagsterEventType.ASSET_OBSERVATION, asset_key=dg.AssetKey.from_user_string(asset)), limit=1)
    assert records, f"no failure recorded on {asset}"
    metadata = {k: v.value for k, v in records[0].asset_observation.metadata.items()}
    assert (metadata["table"], metadata["step"], metadata["failed_run_id"]) == (
        f"{DB}/dbo/{table}", step, result.run_id)
    assert text in metadata["error"] and f"{DB}.dbo.{table}" in metadata["error"]
    return metadata["error"]


def change(state, table: str, n: int) -> None:
    sql(state["devservers"], f"UPDATE dbo.{table} SET qty = qty + 1 WHERE id <= {n}")


def mssql_fault(state, table: str, kind: str, after_rows: int = 0, times: int = 1) -> None:
    sql(state["devservers"], f"EXEC sys.sp_devservers_fault N'dbo.{table}', N'{kind}', {after_rows}, 100, {times}")


def starrocks_fault(state, table: str, kind: str, times: int = 1, delay_ms: int = 200) -> None:
    d = state["devservers"]
    reply = requests.post(f"http://{d['STARROCKS_HOST']}:{d['STARROCKS_HTTP_PORT']}/api/_devservers/fault",
                          auth=(d["STARROCKS_USER"], d["STARROCKS_PASSWORD"]), timeout=10,
                          json={"db": f"{DB}_dbo", "table": table, "kind": kind, "times": times, "delay_ms": delay_ms})
    assert reply.json()["status"] == "OK"


# --- SQL Server ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["drop", "error"])
def test_a_transient_sql_server_failure_mid_extract_is_retried_and_the_targets_end_equal(env, kind):
    """The connection dropped after 5000 rows, or the read chosen as a deadlock victim (1205): retried."""
    change(env, "inc_t", 5000)
    mssql_fault(env, "inc_t", kind, after_rows=2000)
    result = run(env, "inc_t")
    assert result.success, step_failures(result)
    assert retries(result) >= 1
    assert_equal(env, "inc_t")


def test_a_sql_server_that_keeps_failing_fails_the_extract_and_changes_no_target(env):
    before_snapshot, before = snapshot_id(env, "full_t"), layers(env, "full_t")
    sql(env["devservers"], "UPDATE dbo.full_t SET qty = -1 WHERE id = 1")
    mssql_fault(env, "full_t", "drop", after_rows=3000, times=0)
    try:
        result = run(env, "full_t")
    finally:
        mssql_fault(env, "full_t", "clear")
    assert not result.success
    assert retries(result) == 2  # bounded: the policy's two retries, then the failure
    message = step_failures(result)[-1]
    assert f"{DB}.dbo.full_t" in message
    assert snapshot_id(env, "full_t") == before_snapshot
    _, iceberg, starrocks = layers(env, "full_t")
    assert iceberg == before[1] and starrocks == before[2]
    assert_failure_recorded_on_the_asset(env, result, f"raw/{DB}/dbo/full_t", "extract failed")
    assert run(env, "full_t").success  # the fault gone, a plain re-run converges
    assert_equal(env, "full_t")


# --- StarRocks ----------------------------------------------------------------------------------
@pytest.mark.parametrize("table,kind", [("full_t", "refuse"), ("inc_t", "refuse"), ("full_t", "timeout"),
                                        ("inc_t", "timeout"), ("full_t", "commit_then_drop"),
                                        ("inc_t", "commit_then_drop")])
def test_a_transient_starrocks_failure_is_retried_without_losing_or_doubling_rows(env, table, kind):
    """Busy ("running txns ... larger than limit"), no reply at all, or committed with the reply
    lost: the retry reuses delta labels (a committed one is skipped after checking its state) and
    reloads a full table into a fresh staging table; the rows end exactly equal either way."""
    change(env, table, 200)
    starrocks_fault(env, table, kind)
    result = run(env, table)
    assert result.success, step_failures(result)
    assert retries(result) == 1
    assert_equal(env, table)
    ids = [r[0] for r in e2e.starrocks_rows(env["devservers"], f"SELECT id FROM {DB}_dbo.{table}")]
    assert len(ids) == len(set(ids)) == 12000


def test_a_starrocks_that_keeps_refusing_fails_with_its_reason_and_the_live_table_is_unchanged(env):
    before = layers(env, "full_t")[2]
    change(env, "full_t", 10)
    starrocks_fault(env, "full_t", "refuse", times=0)
    try:
        result = run(env, "full_t")
    finally:
        starrocks_fault(env, "full_t", "clear")
    assert not result.success
    assert retries(result) == 2
    message = step_failures(result)[-1]
    assert f"{DB}.dbo.full_t" in message and "larger than limit" in message
    assert "the live StarRocks table was left unchanged" in message
    assert layers(env, "full_t")[2] == before
    leftovers = e2e.starrocks_rows(env["devservers"], "SELECT table_name FROM information_schema.tables "
                                                      f"WHERE table_schema = '{DB}_dbo' AND table_name LIKE 'full_t%'")
    assert run(env, "full_t").success
    assert_equal(env, "full_t")
    after = e2e.starrocks_rows(env["devservers"], "SELECT table_name FROM information_schema.tables "
                                                  f"WHERE table_schema = '{DB}_dbo' AND table_name LIKE 'full_t%'")
    assert len(leftovers) >= 1 and after == [("full_t",)]  # the failed run's staging table is cleaned up


# --- data StarRocks cannot take -----------------------------------------------------------------
def test_rows_starrocks_filters_fail_the_load_with_the_reason_from_the_error_url(env):
    """Never a silent partial load: strict mode, max_filter_ratio 0, and the ErrorURL's rows in the message."""
    from mssql_starrocks.settings import starrocks_settings
    from mssql_starrocks.target.json_rows import json_chunks
    from mssql_starrocks.target.starrocks import StarRocksClient, StarRocksLoadError

    client = StarRocksClient(starrocks_settings(env["devservers"]))
    client.ensure_database("faults_sr")
    client.execute("DROP TABLE IF EXISTS faults_sr.narrow")
    client.execute("CREATE TABLE faults_sr.narrow (id INT NOT NULL, code VARCHAR(4)) DUPLICATE KEY(id) "
                   "DISTRIBUTED BY HASH(id) BUCKETS 1")
    rows = [{"id": 1, "code": "ok"}, {"id": 2, "code": "ÄÖÜ!"}, {"id": 3, "code": "fine"}]  # ÄÖÜ! = 7 bytes
    with pytest.raises(StarRocksLoadError) as err:
        client.stream_load("faults_sr", "narrow", "narrow_1", json_chunks(iter(rows)), columns=["id", "code"])
    message = str(err.value)
    assert "too many filtered rows" in message and "total=3 loaded=0 filtered=1" in message
    assert "first rejected rows (from ErrorURL)" in message and "ÄÖÜ!" in message
    assert client.count("faults_sr", "narrow") == 0  # all or nothing


def test_a_value_over_starrocks_limit_is_refused_by_column_before_starrocks_changes(env):
    devservers = env["devservers"]
    sql(devservers, "IF OBJECT_ID('dbo.big_text') IS NOT NULL DROP TABLE dbo.big_text")
    sql(devservers, "CREATE TABLE dbo.big_text (id INT NOT NULL PRIMARY KEY, body NVARCHAR(MAX))")
    sql(devservers, "INSERT INTO dbo.big_text (id, body) VALUES (1, N'small'), (2, REPLICATE(N'é', 600000))")
    work = env["env"]["MSSQL_STARROCKS_TABLES_FILE"]
    from pathlib import Path

    tables = Path(work).with_name("big_text.yaml")
    tables.write_text(f"version: 1\ndatabase: {DB}\ntables:\n  - schema: dbo\n    name: big_text\n"
                      "    key_columns: [id]\n")
    product = {**env["env"], "MSSQL_STARROCKS_TABLES_FILE": str(tables)}
    with e2e.environ(product):
        defs = e2e.load_definitions()
        result = e2e.run_assets(defs, f"raw/{DB}/dbo/big_text*", env["instance"], raise_on_error=False)
    assert not result.success
    assert retries(result) == 0  # permanent: no retry can fix it
    message = step_failures(result)[-1]
    assert "column body (NVARCHAR(MAX) -> VARCHAR(1048576)) holds a value of 1,200,000 bytes" in message
    assert "StarRocks was not changed" in message and "exclude_columns" in message
    assert not e2e.starrocks_rows(devservers, "SELECT table_name FROM information_schema.tables "
                                              f"WHERE table_schema = '{DB}_dbo' AND table_name = 'big_text'")
    with e2e.environ(env["env"]):  # the module's definitions again for the other tests
        e2e.load_definitions()


FAILURE = "dagster._core.definitions.events.Failure: "


def run_with_tables_file(state, name: str, entries: str):
    """Materialize everything a tables file of these entries defines; the module's file again after."""
    path = Path(state["env"]["MSSQL_STARROCKS_TABLES_FILE"]).with_name(f"{name}.yaml")
    path.write_text(f"version: 1\ndatabase: {DB}\ntables:\n{entries}")
    try:
        with e2e.environ({**state["env"], "MSSQL_STARROCKS_TABLES_FILE": str(path)}):
            return e2e.run_assets(e2e.load_definitions(), "*", state["instance"], raise_on_error=False), path
    finally:
        with e2e.environ(state["env"]):
            e2e.load_definitions()


def starrocks_tables_like(state, prefix: str) -> list[str]:
    return [r[0] for r in e2e.starrocks_rows(state["devservers"], "SELECT table_name FROM information_schema.tables "
                                             f"WHERE table_schema = '{DB}_dbo' AND table_name LIKE '{prefix}%'")]


# --- the tables file against SQL Server's catalog -----------------------------------------------
@pytest.mark.parametrize("entry,expected", [
    ("{schema: dbo, name: no_such_table, target_name: cfg_probe}",
     "table dbo.no_such_table: no such table in SQL Server (faults.dbo.no_such_table on mssql://"),
    ("{schema: dbo, name: inc_t, target_name: cfg_probe, load_mode: incremental, key_columns: [id], "
     "watermark_column: rvv}",
     "table dbo.inc_t: watermark_column: unknown column 'rvv' (faults.dbo.inc_t in SQL Server has: id, name, qty, rv)"),
    ("{schema: dbo, name: full_t, target_name: cfg_probe, key_columns: [id], partition_column: idd}",
     "table dbo.full_t: partition_column: unknown column 'idd' (faults.dbo.full_t in SQL Server has: id, name, qty)"),
], ids=["unknown-table", "unknown-watermark-column", "unknown-partition-column"])
def test_a_table_or_column_sql_server_does_not_have_is_refused_naming_file_table_and_field_before_data_moves(
        env, entry, expected):
    """Definitions load without I/O, so a tables file without `columns` is checked against the
    live catalog by the extract, first thing: one message, no retry, no target touched."""
    result, path = run_with_tables_file(env, "cfg_probe", f"  - {entry}\n")
    assert not result.success
    assert retries(result) == 0
    failures = step_failures(result)
    assert len(failures) == 1, failures
    message = failures[0].removeprefix(FAILURE)
    assert message.startswith(f"{path}: {expected}") and message.endswith("[extract]")
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert started == {f"raw__{DB}__dbo__cfg_probe"}  # the Iceberg and StarRocks steps never ran
    landed = [r.tableName for r in env["spark"].sql(f"SHOW TABLES IN lake.{DB}_dbo").collect()]
    assert not [t for t in landed if t.startswith("cfg_probe")]
    assert not starrocks_tables_like(env, "cfg_probe")


# --- rows StarRocks filters, in a run ------------------------------------------------------------
def test_rows_starrocks_filters_fail_the_load_step_with_the_rejected_rows_and_leave_the_live_table(env):
    """The live StarRocks table was rebuilt by hand with a narrower column (StarRocks cannot
    narrow one in place): the next delta's long value is filtered, the step fails with
    StarRocks' reason and the ErrorURL's rows in the Dagster failure, and nothing is loaded."""
    devservers = env["devservers"]
    sql(devservers, "IF OBJECT_ID('dbo.narrowed_t') IS NOT NULL DROP TABLE dbo.narrowed_t")
    sql(devservers, "CREATE TABLE dbo.narrowed_t (id INT NOT NULL PRIMARY KEY, name NVARCHAR(40), qty INT, rv ROWVERSION)")
    sql(devservers, "INSERT INTO dbo.narrowed_t (id, name, qty) SELECT value, CONCAT(N'row ', value), value % 13 "
                    "FROM GENERATE_SERIES(1, 500)")
    entry = "  - {schema: dbo, name: narrowed_t, load_mode: incremental, key_columns: [id], watermark_column: rv}\n"
    first, _ = run_with_tables_file(env, "narrowed", entry)
    assert first.success, step_failures(first)
    live = f"{DB}_dbo.narrowed_t"
    ddl = e2e.starrocks_rows(devservers, f"SHOW CREATE TABLE {live}")[0][1]
    assert ddl.startswith("CREATE TABLE `narrowed_t` (") and "`name` varchar(120) NULL" in ddl
    e2e.starrocks_rows(devservers, ddl.replace("`narrowed_t`", f"`{DB}_dbo`.`narrowed_t_by_hand`", 1)
                       .replace("`name` varchar(120)", "`name` varchar(12)"))
    e2e.starrocks_rows(devservers, f"INSERT INTO {DB}_dbo.narrowed_t_by_hand SELECT * FROM {live}")
    e2e.starrocks_rows(devservers, f"ALTER TABLE {live} SWAP WITH narrowed_t_by_hand")
    e2e.starrocks_rows(devservers, f"DROP TABLE {DB}_dbo.narrowed_t_by_hand")
    before = sorted(e2e.starrocks_rows(devservers, f"SELECT id, name, qty FROM {live}"))
    assert len(before) == 500

    sql(devservers, "UPDATE dbo.narrowed_t SET name = N'a name too long for VARCHAR(12)' WHERE id = 7")
    result, _ = run_with_tables_file(env, "narrowed", entry)
    assert not result.success
    assert retries(result) == 0  # refused rows: no retry can load them
    message = step_failures(result)[-1].removeprefix(FAILURE)
    assert message.startswith(f"{DB}.dbo.narrowed_t: 1 Stream Load(s) failed") and message.endswith("[starrocks load]")
    assert "too many filtered rows" in message and "total=1 loaded=0 filtered=1" in message
    rejected = message.split("first rejected rows (from ErrorURL):", 1)[1]
    assert "Value length beyond the limit. column type: varchar(12)" in rejected and "Column: name" in rejected
    assert "a name too long for VARCHAR(12)" in rejected
    assert sorted(e2e.starrocks_rows(devservers, f"SELECT id, name, qty FROM {live}")) == before
    recorded = assert_failure_recorded_on_the_asset(env, result, f"starrocks/{DB}/dbo/narrowed_t",
                                                    "too many filtered rows", table="narrowed_t", step="starrocks load")
    assert "a name too long for VARCHAR(12)" in recorded and "Value length beyond the limit" in recorded
