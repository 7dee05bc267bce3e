"""The same assets on a real Spark cluster: only SPARK_MASTER (and where the executors' Python is) changes.

A Spark standalone Master and Worker are started on 127.0.0.1 from the pip pyspark
distribution (see spark_servers). One table chain (raw -> iceberg -> starrocks, with its four
checks) is materialized by `mssql-starrocks run` in a separate process whose environment is
the local one of the other tests plus exactly:

* `SPARK_MASTER=spark://127.0.0.1:<port>`, and
* `PYSPARK_PYTHON=<this virtualenv's python>`: the Python the executors start for the Stream
  Load tasks (it needs pyarrow, requests and this project); on a real cluster, the path of that
  environment on the worker nodes.

Then: the run succeeded and every check passed (from the run's own event log), StarRocks holds
exactly the SQL Server rows, value by value, and the work ran on the cluster: the master lists
the application as finished, the worker ran its executor, which fetched the project's jars
(spark.jars, shipped by the driver) and ran the tasks (JDBC extract, Iceberg writes, the
Python Stream Load tasks). No password appears in anything the cluster logged.
"""

from __future__ import annotations

import decimal
import sys
import textwrap

import dagster as dg
import pytest
import yaml

from mssql_starrocks_tests import e2e
from mssql_starrocks_tests.spark_servers import standalone_cluster

DB = "cluster"
TABLES_YAML = textwrap.dedent(f"""\
    version: 1
    database: {DB}
    tables:
      - schema: dbo
        name: customers
        key_columns: [customer_id]
        starrocks: {{model: primary_key, buckets: 2}}
    """)
COLUMNS = "customer_id, full_name, email, city, created_at, balance, is_active"


def sample_spec(path):
    """The demo database's customers table alone, in its own database (no other test reads it)."""
    from mssql_starrocks_devservers import sample

    spec = sample.read_spec("demo")
    spec = {"database": DB, "tables": [t for t in spec["tables"] if t["name"] == "dbo.customers"]}
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster"), cores=2, memory="1g") as running:
        yield running


def _normalise(row) -> tuple:
    out = []
    for value in row:
        if isinstance(value, decimal.Decimal):
            value = value.normalize()
        elif isinstance(value, bool):
            value = int(value)
        out.append(value)
    return tuple(out)


def test_a_table_chain_runs_on_a_spark_standalone_cluster(devservers, cluster, tmp_path):
    from mssql_starrocks_devservers import sample

    sample.load(devservers, spec=sample_spec(tmp_path / "spec.yaml"))
    tables_file = tmp_path / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    local = e2e.product_env(devservers, tmp_path, tables_file, DAGSTER_HOME=str(home))
    env = {**local, "SPARK_MASTER": cluster.master_url, "PYSPARK_PYTHON": sys.executable}
    assert {k for k in env if env[k] != local.get(k)} == {"SPARK_MASTER", "PYSPARK_PYTHON"}
    assert cluster.state()["completedapps"] == [] and cluster.state()["activeapps"] == []

    done = e2e.cli([e2e.python_bin("mssql-starrocks"), "run", "--select", f"raw/{DB}/dbo/customers*"], env=env,
                   timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "3 asset(s) materialized, 5/5 check(s) passed" in done.stdout

    # The run, read back from its own event log: succeeded, three materializations, every check passed.
    with e2e.environ({"DAGSTER_HOME": str(home)}):
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs()
            assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
            checks = [e.dagster_event.event_specific_data for e in instance.all_logs(
                runs[0].run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
            mats = [e.dagster_event.event_specific_data.materialization for e in instance.all_logs(
                runs[0].run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)]
    assert sorted(c.asset_check_key.to_user_string() for c in checks) == sorted([
        f"raw/{DB}/dbo/customers:row_count_matches_source",
        f"iceberg/{DB}/dbo/customers:row_count_matches_raw",
        f"iceberg/{DB}/dbo/customers:source_lag_within_tolerance",
        f"starrocks/{DB}/dbo/customers:row_count_matches_iceberg",
        f"starrocks/{DB}/dbo/customers:column_profile_matches_source",
    ])
    assert all(c.passed for c in checks), [c.description for c in checks if not c.passed]
    source_rows = e2e.mssql_rows(devservers, f"SELECT {COLUMNS} FROM dbo.customers ORDER BY customer_id", database=DB)
    assert len(source_rows) == 500
    counts = {m.asset_key.to_user_string(): m.metadata["dagster/row_count"].value for m in mats}
    assert counts == {f"{layer}/{DB}/dbo/customers": 500 for layer in ("raw", "iceberg", "starrocks")}

    # StarRocks holds exactly the SQL Server rows.
    loaded = e2e.starrocks_rows(devservers, f"SELECT {COLUMNS} FROM {DB}_dbo.customers ORDER BY customer_id")
    assert [_normalise(r) for r in loaded] == [_normalise(r) for r in source_rows]

    # The work ran on the cluster: the master ran the application to the end ...
    state = cluster.state()
    assert state["activeapps"] == []
    (app,) = state["completedapps"]
    assert app["name"] == "mssql_starrocks" and app["state"] == "FINISHED"
    # ... on the worker's executor(s), which fetched the project's jars from the driver (spark.jars) ...
    executors = [d for d in (cluster.worker_dir / app["id"]).iterdir() if d.is_dir()]
    assert executors, f"no executor of {app['id']} ran on the worker"
    logs = "".join((d / "stderr").read_text(errors="replace") for d in executors)
    for jar in sorted(p.name for p in (e2e.ROOT / "jars" / "lib").glob("*.jar")):
        assert f"/jars/{jar} with timestamp" in logs, f"the executor did not fetch {jar} from the driver"
        assert any((d / jar).is_file() for d in executors), f"{jar} is not in the executor's directory"
    # ... and ran the tasks: the JDBC extract, the Iceberg data files, the Python (Arrow) Stream Load tasks.
    assert "INFO JDBCRDD:" in logs
    assert logs.count("DataWritingSparkTask: Committed partition") >= 2  # the landing and the Iceberg table
    assert "INFO ArrowPythonRunner: Times:" in logs
    assert logs.count("Finished task") >= 3

    # Nothing the cluster logged holds a password.
    everything = output + logs + "".join(p.read_text(errors="replace") for p in cluster.logs)
    for name in ("MSSQL_PASSWORD", "STARROCKS_PASSWORD"):
        assert devservers[name] not in everything, f"{name} appears in the cluster's logs"
