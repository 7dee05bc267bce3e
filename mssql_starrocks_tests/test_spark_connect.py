"""Spark Connect: what runs on a Spark Connect 3.5 server, and what is refused at load, and why.

A Spark Connect server is started from the pip pyspark distribution with the plugin of
jars/connect and the project's jars (see spark_servers.connect_server). One table chain with
load_mode full (raw -> iceberg -> starrocks, with its four checks) is materialized by
`mssql-starrocks run` in a separate process whose environment is the Glue catalog one of
test_glue plus `SPARK_REMOTE=sc://127.0.0.1:<port>`; that process has no Java at all
(JAVA_HOME points nowhere), so every Spark job provably ran in the server: its log shows the
JDBC extract, the Iceberg commits and the Python Stream Load tasks.

Tables loaded incrementally or by change tracking, and the local SQLite catalog, cannot run on
Spark Connect (see lib/spark.check_spark_connect): definitions refuse them at load with one
message naming each reason.
"""

from __future__ import annotations

import decimal
import textwrap

import dagster as dg
import pytest
import yaml

from mssql_starrocks_tests import e2e
from mssql_starrocks_tests.spark_servers import connect_server
from mssql_starrocks_tests.test_glue import _aws, _glue_env

DB = "remote"
COLUMNS = "customer_id, full_name, email, city, created_at, balance, is_active"
TABLES_YAML = textwrap.dedent(f"""\
    version: 1
    database: {DB}
    tables:
      - schema: dbo
        name: customers
        key_columns: [customer_id]
        starrocks: {{model: primary_key, buckets: 2}}
    """)


@pytest.fixture(scope="module")
def server(devservers, tmp_path_factory):
    # The server's JVM reaches S3 and Glue with the AWS default credential chain, as in production.
    aws = {k: devservers[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    with connect_server(tmp_path_factory.mktemp("spark-connect"), env=aws) as running:
        yield running


def _sample(devservers, path):
    from mssql_starrocks_devservers import sample

    spec = sample.read_spec("demo")
    spec = {"database": DB, "tables": [t for t in spec["tables"] if t["name"] == "dbo.customers"]}
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    sample.load(devservers, spec=path)


def _normalise(row) -> tuple:
    return tuple(v.normalize() if isinstance(v, decimal.Decimal) else int(v) if isinstance(v, bool) else v
                 for v in row)


def test_a_full_load_table_chain_runs_on_a_spark_connect_server(devservers, server, tmp_path):
    _sample(devservers, tmp_path / "spec.yaml")
    tables_file = tmp_path / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    glue = e2e.product_env(devservers, tmp_path, tables_file, DAGSTER_HOME=str(home), **_glue_env(devservers, tmp_path))
    env = {**glue, "SPARK_REMOTE": server.url, "JAVA_HOME": str(tmp_path / "no-java-here")}
    server_log_before = len(server.log_text())

    done = e2e.cli([e2e.python_bin("mssql-starrocks"), "run", "--select", f"raw/{DB}/dbo/customers*"], env=env,
                   timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "3 asset(s) materialized, 5/5 check(s) passed" in done.stdout
    assert "Cannot modify" not in output  # only session settings are sent to the server

    with e2e.environ({"DAGSTER_HOME": str(home)}):
        with dg.DagsterInstance.get() as instance:
            (run,) = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.SUCCESS
            checks = [e.dagster_event.event_specific_data for e in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
            mats = [e.dagster_event.event_specific_data.materialization for e in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)]
    assert len(checks) == 5 and all(c.passed for c in checks), [c.description for c in checks if not c.passed]
    counts = {m.asset_key.to_user_string(): m.metadata["dagster/row_count"].value for m in mats}
    assert counts == {f"{layer}/{DB}/dbo/customers": 500 for layer in ("raw", "iceberg", "starrocks")}

    # StarRocks holds exactly the SQL Server rows; the Iceberg table is in Glue, its files in S3.
    source = e2e.mssql_rows(devservers, f"SELECT {COLUMNS} FROM dbo.customers ORDER BY customer_id", database=DB)
    loaded = e2e.starrocks_rows(devservers, f"SELECT {COLUMNS} FROM {DB}_dbo.customers ORDER BY customer_id")
    assert len(source) == 500 and [_normalise(r) for r in loaded] == [_normalise(r) for r in source]
    table = _aws(devservers, "glue").get_table(DatabaseName=f"{DB}_dbo", Name="customers")["Table"]
    assert table["Parameters"]["metadata_location"].startswith(devservers["GLUE_WAREHOUSE"] + f"/{DB}_dbo")

    # Every Spark job ran in the server: the extract, the commits, the Python Stream Load tasks.
    log = server.log_text()[server_log_before:]
    assert "INFO JDBCRDD:" in log
    assert log.count("SnapshotProducer: Committed snapshot") >= 2  # the landing and the Iceberg table
    assert "INFO ArrowPythonRunner: Times:" in log
    for name in ("MSSQL_PASSWORD", "STARROCKS_PASSWORD", "AWS_SECRET_ACCESS_KEY"):
        assert devservers[name] not in output + log, f"{name} appears in the output or the server's log"


def _refusal(env) -> str:
    """The message definitions fail to load with (Dagster wraps it; it is the cause)."""
    from mssql_starrocks.lib.spark import SparkConnectUnsupported

    with e2e.environ(env), pytest.raises(Exception) as refused:
        e2e.load_definitions()
    error = refused.value
    while error is not None and not isinstance(error, SparkConnectUnsupported):
        error = error.__cause__ or error.__context__
    assert error is not None, f"not refused for Spark Connect: {refused.value!r}"
    return str(error)


def test_spark_connect_refuses_merged_tables_and_the_local_catalog_at_load(devservers, tmp_path):
    tables_file = tmp_path / "tables.yaml"
    tables_file.write_text(textwrap.dedent("""\
        version: 1
        database: demo
        tables:
          - schema: dbo
            name: customers
          - schema: sales
            name: orders
            key_columns: [order_id]
            load_mode: incremental
            watermark_column: rv
            starrocks: {model: primary_key}
        """))
    remote = "sc://spark-connect.example:15002/;token=not-to-be-shown"
    env = e2e.product_env(devservers, tmp_path, tables_file, SPARK_REMOTE=remote)
    message = _refusal(env)
    assert "Spark Connect (SPARK_REMOTE=sc://spark-connect.example:15002) runs tables with load_mode full" in message
    assert "table(s) sales.orders (incremental) merge their changes with MERGE INTO" in message
    assert "CommitMetadata" in message and "SPARK_MASTER" in message
    assert "ICEBERG_CATALOG_TYPE=local" in message and "SQLITE_BUSY" in message
    assert "not-to-be-shown" not in message
    # The same setting through SPARK_MASTER is Spark Connect too, and refused the same way.
    env = {**env, "SPARK_REMOTE": "", "SPARK_MASTER": "sc://spark-connect.example:15002"}
    assert _refusal(env).startswith("Spark Connect (SPARK_MASTER=sc://spark-connect.example:15002) runs")
    # With full loads only, on the Glue catalog, the same definitions load.
    tables_file.write_text(TABLES_YAML)
    env = {**env, **_glue_env(devservers, tmp_path)}
    with e2e.environ(env):
        defs = e2e.load_definitions()
    spark = defs.resources["spark"]
    assert "spark.remote" not in spark.spark_config and "spark.master" not in spark.spark_config
    assert spark.remote == "SPARK_MASTER"  # the URL stays a variable name in Dagit
