"""S3 and Glue failing under the Iceberg steps (GlueCatalog + S3FileIO against the moto stand-in,
faults injected by its front with AWS's own error replies): transient errors are retried and
the table ends equal to the source with a valid metadata_location; a commit racing a real
second writer is retried on top of that writer's commit; errors that persist or cannot be
retried fail the step naming table and step, and leave Iceberg and StarRocks as they were.

The runs share the test session's Spark: the AWS SDK in its JVM finds the credentials in the
JVM's system properties (its default chain's first source), as a production JVM would in its
environment; the product itself holds no AWS keys.
"""

from __future__ import annotations

import threading
import time

import dagster as dg
import pytest
import requests

from mssql_starrocks_tests import e2e
from mssql_starrocks_tests.test_faults import retries, step_failures
from mssql_starrocks_tests.test_glue import _aws, _s3_keys

DB = "gluefaults"
NS = f"{DB}_dbo"
LABEL = f"{DB}.dbo.full_t"
TABLES_YAML = f"""
version: 1
database: {DB}
tables:
  - schema: dbo
    name: full_t
    key_columns: [id]
"""


def sql(devservers, statement: str):
    return e2e.mssql_rows(devservers, statement, database=DB)


@pytest.fixture(scope="module")
def glue(devservers, tmp_path_factory, spark):
    work = tmp_path_factory.mktemp("gluefaults")
    e2e.mssql_rows(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    sql(devservers, "IF OBJECT_ID('dbo.full_t') IS NOT NULL DROP TABLE dbo.full_t")
    sql(devservers, "CREATE TABLE dbo.full_t (id INT NOT NULL PRIMARY KEY, name NVARCHAR(40), qty INT)")
    sql(devservers, "INSERT INTO dbo.full_t (id, name, qty) SELECT value, CONCAT(N'row ', value), value % 13 "
                    "FROM GENERATE_SERIES(1, 3000)")
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    env = e2e.product_env(devservers, work, tables_file, ICEBERG_CATALOG_TYPE="glue",
                          ICEBERG_WAREHOUSE=devservers["GLUE_WAREHOUSE"], ICEBERG_SPARK_CATALOG_NAME="gluefaults",
                          ICEBERG_LOCAL_DIR=str(work / "local"))
    with e2e.environ(env):
        defs = e2e.load_definitions()
    state = {"env": env, "defs": defs, "instance": dg.DagsterInstance.ephemeral(), "devservers": devservers,
             "front": devservers["AWS_ENDPOINT_URL"] + "/_devservers/"}
    with e2e.jvm_aws_keys(spark, devservers):
        try:
            first = run(state)
            assert first.success, step_failures(first)
            assert_equal(state)
            yield state
        finally:
            requests.post(state["front"] + "fault", json={"kind": "clear"}, timeout=10)


def run(state):
    with e2e.environ(state["env"]):
        return e2e.run_assets(state["defs"], f"raw/{DB}/dbo/full_t*", state["instance"], raise_on_error=False)


def fault(state, **spec) -> None:
    reply = requests.post(state["front"] + "fault", json=spec, timeout=10).json()
    assert reply["status"] == "OK", reply


def fired(state) -> list[dict]:
    return requests.get(state["front"] + "faults", timeout=10).json()["log"]


def catalog(state):
    from pyiceberg.catalog.glue import GlueCatalog

    d = state["devservers"]
    props = {"region": d["AWS_REGION"], "access-key-id": d["AWS_ACCESS_KEY_ID"],
             "secret-access-key": d["AWS_SECRET_ACCESS_KEY"]}
    return GlueCatalog("check", **{f"glue.{k}": v for k, v in props.items()}, **{f"s3.{k}": v for k, v in props.items()},
                       **{"glue.endpoint": d["AWS_ENDPOINT_URL"], "s3.endpoint": d["AWS_ENDPOINT_URL"],
                          "s3.force-virtual-addressing": "false"})


def glue_table(state) -> dict:
    return _aws(state["devservers"], "glue").get_table(DatabaseName=NS, Name="full_t")["Table"]


def layers(state):
    source = sorted(tuple(r) for r in sql(state["devservers"], "SELECT id, name, qty FROM dbo.full_t"))
    data = catalog(state).load_table(f"{NS}.full_t").scan(selected_fields=("id", "name", "qty")).to_arrow()
    iceberg = sorted(zip(*(data.column(c).to_pylist() for c in ("id", "name", "qty"))))
    starrocks = sorted(tuple(r) for r in e2e.starrocks_rows(state["devservers"], f"SELECT id, name, qty FROM {NS}.full_t"))
    return source, iceberg, starrocks


def assert_equal(state) -> None:
    source, iceberg, starrocks = layers(state)
    assert iceberg == source and starrocks == source


def assert_valid_metadata_location(state, run_id: str) -> str:
    """Glue points at a metadata file that exists, that an independent reader loads, whose
    current snapshot is this run's commit."""
    location = glue_table(state)["Parameters"]["metadata_location"]
    assert location.startswith(f"{state['devservers']['GLUE_WAREHOUSE']}/{NS}.db/full_t/metadata/")
    assert location.split("/", 3)[3] in _s3_keys(state["devservers"], location.rsplit("/", 1)[0])
    table = catalog(state).load_table(f"{NS}.full_t")
    assert table.metadata_location == location
    assert table.current_snapshot().summary.additional_properties["mssql_starrocks.run_id"] == run_id
    return location


def change(state) -> None:
    sql(state["devservers"], "UPDATE dbo.full_t SET qty = qty + 1 WHERE id <= 50")


# --- transient ----------------------------------------------------------------------------------
TRANSIENT = {
    "s3-slowdown-writing-metadata": dict(service="s3", operation="PutObject", key_contains=f"{NS}.db/full_t/metadata/",
                                         error="SlowDown", times=2),
    "s3-internal-error-writing-data": dict(service="s3", operation="PutObject", key_contains=f"{NS}.db/full_t/data/",
                                           error="InternalError", times=1),
    "glue-internal-error-on-commit": dict(service="glue", operation="UpdateTable", database=NS, table="full_t",
                                          error="InternalServiceException", times=1),
    "glue-conflict-on-commit": dict(service="glue", operation="UpdateTable", database=NS, table="full_t",
                                    error="ConcurrentModificationException", times=2),
    "glue-throttling-on-read": dict(service="glue", operation="GetTable", database=NS, table="full_t",
                                    error="ThrottlingException", times=2),
}


@pytest.mark.parametrize("case", list(TRANSIENT))
def test_a_transient_s3_or_glue_error_is_retried_and_the_table_ends_correct_with_a_valid_metadata_location(glue, case):
    change(glue)
    before = glue_table(glue)["Parameters"]["metadata_location"]
    spec = TRANSIENT[case]
    fault(glue, **spec)
    try:
        result = run(glue)
        hits = [f for f in fired(glue) if f["error"] == spec["error"]]
    finally:
        fault(glue, kind="clear")
    assert result.success, step_failures(result)
    assert len(hits) == spec["times"]  # the errors really happened, and were retried past
    assert retries(result) == 0  # by the AWS SDK / Iceberg's commit retry, inside the step
    assert assert_valid_metadata_location(glue, result.run_id) != before
    assert_equal(glue)


def test_a_glue_commit_racing_a_second_writer_is_retried_on_top_of_its_commit(glue):
    """The product's UpdateTable is held after Iceberg read the table; meanwhile pyiceberg commits
    to the same table; Glue then refuses the stale VersionId and Iceberg retries on the new base."""
    change(glue)
    fault(glue, service="glue", kind="hold", operation="UpdateTable", database=NS, table="full_t", times=1)
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(result=run(glue)))
    worker.start()
    try:
        deadline = time.monotonic() + 300
        while not requests.get(glue["front"] + "faults", timeout=10).json()["held"]:
            assert worker.is_alive() and time.monotonic() < deadline, "the commit was never held"
            time.sleep(0.2)
        other = catalog(glue).load_table(f"{NS}.full_t")
        with other.transaction() as tx:
            tx.set_properties({"owner.note": "set by a concurrent writer"})
        concurrent_location = glue_table(glue)["Parameters"]["metadata_location"]
        requests.post(glue["front"] + "release", timeout=10)
    finally:
        worker.join(timeout=600)
        fault(glue, kind="clear")
    result = outcome["result"]
    assert result.success, step_failures(result)
    final = assert_valid_metadata_location(glue, result.run_id)
    table = catalog(glue).load_table(f"{NS}.full_t")
    assert table.properties["owner.note"] == "set by a concurrent writer"  # not lost
    assert concurrent_location in {entry.metadata_file for entry in table.metadata.metadata_log}
    versions = _aws(glue["devservers"], "glue").get_table_versions(DatabaseName=NS, TableName="full_t")["TableVersions"]
    locations = [v["Table"]["Parameters"]["metadata_location"]
                 for v in sorted(versions, key=lambda v: int(v["VersionId"]))]
    assert locations[-1] == final and concurrent_location in locations[:-1]
    assert_equal(glue)


# --- persistent or permanent ----------------------------------------------------------------------
def targets(state):
    table = glue_table(state)
    return table["Parameters"]["metadata_location"], table["VersionId"], layers(state)[1:]


def test_glue_refusing_every_commit_fails_the_iceberg_step_after_bounded_retries_and_changes_no_target(glue):
    before = targets(glue)
    change(glue)
    fault(glue, service="glue", operation="UpdateTable", database=NS, table="full_t",
          error="ConcurrentModificationException", times=0)
    try:
        result = run(glue)
    finally:
        fault(glue, kind="clear")
    assert not result.success
    assert retries(result) == 2  # the policy's two retries, each after Iceberg's own commit retries
    message = step_failures(result)[-1]
    assert f"{LABEL}: iceberg commit failed" in message and "concurrent" in message
    assert targets(glue) == before  # same metadata file, same Glue version, same rows in Iceberg and StarRocks
    again = run(glue)
    assert again.success, step_failures(again)
    assert_valid_metadata_location(glue, again.run_id)
    assert_equal(glue)


def test_s3_denying_the_writes_fails_the_iceberg_step_at_once_naming_table_and_step(glue):
    before = targets(glue)
    change(glue)
    fault(glue, service="s3", operation="PutObject", key_contains=f"{NS}.db/full_t/", error="AccessDenied", times=0)
    try:
        result = run(glue)
    finally:
        fault(glue, kind="clear")
    assert not result.success
    assert retries(result) == 0  # a permission problem: no retry can fix it
    message = step_failures(result)[-1]
    assert f"{LABEL}: iceberg commit failed" in message and "Access Denied" in message
    assert message.endswith("[iceberg commit; AWS AccessDenied: not retried]")
    assert targets(glue) == before
    again = run(glue)
    assert again.success, step_failures(again)
    assert_equal(glue)
