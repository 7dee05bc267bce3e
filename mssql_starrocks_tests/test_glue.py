"""The production catalog path: Iceberg's GlueCatalog + S3FileIO (from jars/) against moto's
S3 + Glue server, first straight from Spark, then through the product's assets.

Both run in a subprocess because the AWS SDK inside the JVM takes credentials from the process
environment at JVM start, exactly as in production (the product holds no AWS keys itself).
"""

from __future__ import annotations

import json
import sys
import textwrap

import boto3
import pytest

from mssql_starrocks_tests import e2e


def _aws(devservers: dict[str, str], service: str):
    return boto3.client(service, endpoint_url=devservers["AWS_ENDPOINT_URL"], region_name=devservers["AWS_REGION"],
                        aws_access_key_id=devservers["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=devservers["AWS_SECRET_ACCESS_KEY"])


def _glue_env(devservers: dict[str, str], work) -> dict[str, str]:
    return {"ICEBERG_CATALOG_TYPE": "glue", "ICEBERG_WAREHOUSE": devservers["GLUE_WAREHOUSE"],
            "ICEBERG_SPARK_CATALOG_NAME": "glue", "ICEBERG_LOCAL_DIR": str(work / "unused-local-catalog")}


def _s3_keys(devservers: dict[str, str], location: str) -> list[str]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    pages = _aws(devservers, "s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


SPARK_SCRIPT = textwrap.dedent("""
    import json, sys
    from mssql_starrocks import settings
    from mssql_starrocks.lib.spark import build_session, jar_paths

    ice = settings.iceberg_settings()
    conf = {**settings.spark_conf(), **ice.spark_conf()}
    conf["spark.jars"] = ",".join(jar_paths())
    spark = build_session(conf)
    spark.sql("CREATE NAMESPACE IF NOT EXISTS glue.probe")
    spark.sql("CREATE TABLE glue.probe.events (id BIGINT, name STRING) USING iceberg")
    spark.sql("INSERT INTO glue.probe.events VALUES (1, 'a'), (2, 'b')")
    spark.sql("INSERT INTO glue.probe.events VALUES (3, 'ünïcode ✓')")
    rows = [tuple(r) for r in spark.sql("SELECT id, name FROM glue.probe.events ORDER BY id").collect()]
    snapshots = spark.sql("SELECT count(*) FROM glue.probe.events.snapshots").collect()[0][0]
    print("RESULT " + json.dumps({"rows": rows, "snapshots": snapshots}))
""")


def test_spark_glue_catalog_creates_appends_and_reads_through_moto(devservers, tmp_path):
    env = {**devservers, **_glue_env(devservers, tmp_path), "SPARK_MASTER": "local[1]",
           "SPARK_SHUFFLE_PARTITIONS": "1"}
    done = e2e.cli([sys.executable, "-c", SPARK_SCRIPT], env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result == {"rows": [[1, "a"], [2, "b"], [3, "ünïcode ✓"]], "snapshots": 2}
    table = _aws(devservers, "glue").get_table(DatabaseName="probe", Name="events")["Table"]
    assert table["Parameters"]["table_type"].upper() == "ICEBERG"
    metadata = table["Parameters"]["metadata_location"]
    assert metadata.startswith(devservers["GLUE_WAREHOUSE"] + "/") and metadata.endswith(".metadata.json")
    keys = _s3_keys(devservers, metadata.rsplit("/metadata/", 1)[0])
    assert metadata.split("/", 3)[3] in keys
    assert sum(k.endswith(".parquet") for k in keys) >= 2  # one data file per append at least


@pytest.fixture(scope="module")
def glue_run(devservers, tmp_path_factory):
    from mssql_starrocks_devservers import sample

    work = tmp_path_factory.mktemp("glue")
    sample.load(devservers, spec="demo")
    tables_file = work / "tables.yaml"
    tables_file.write_text(textwrap.dedent("""\
        version: 1
        database: demo
        tables:
          - schema: dbo
            name: customers
            key_columns: [customer_id]
            namespace: glue_demo
            starrocks: {model: primary_key, buckets: 2}
          - schema: dbo
            name: all_types
            namespace: glue_demo
        """))
    env = e2e.product_env(devservers, work, tables_file, DAGSTER_HOME=str(work), **_glue_env(devservers, work))
    (work / "dagster.yaml").write_text("")
    done = e2e.cli([e2e.python_bin("dagster"), "asset", "materialize", "-m", "mssql_starrocks.definitions",
                    "--select", "*"], env=env, timeout=900)
    return {"done": done, "env": env, "work": work}


def test_the_chain_lands_in_glue_and_s3_and_every_check_passes(devservers, glue_run):
    done = glue_run["done"]
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "RUN_SUCCESS" in out
    assert "ASSET_CHECK_EVALUATION" in out and "passed: false" not in out.lower()
    glue = _aws(devservers, "glue")
    names = {t["Name"] for t in glue.get_tables(DatabaseName="glue_demo")["TableList"]}
    assert {"customers", "all_types"} <= names
    assert not (glue_run["work"] / "unused-local-catalog" / "catalog.db").exists()  # nothing went local
    for table in ("customers", "all_types"):
        params = glue.get_table(DatabaseName="glue_demo", Name=table)["Table"]["Parameters"]
        metadata = params["metadata_location"]
        assert metadata.startswith(devservers["GLUE_WAREHOUSE"] + "/glue_demo")
        assert metadata.split("/", 3)[3] in _s3_keys(devservers, metadata.rsplit("/metadata/", 1)[0])


def test_glue_tables_read_back_with_pyiceberg_and_match_every_layer(devservers, glue_run):
    """An independent reader (pyiceberg + boto3 credentials) sees what SQL Server and StarRocks hold."""
    assert glue_run["done"].returncode == 0
    catalog = e2e.pyiceberg_glue_catalog(devservers)
    table = catalog.load_table("glue_demo.customers")
    data = table.scan(selected_fields=("customer_id",)).to_arrow()
    source = e2e.mssql_rows(devservers, "SELECT customer_id FROM dbo.customers ORDER BY customer_id")
    assert sorted(data.column("customer_id").to_pylist()) == [r[0] for r in source]
    summary = table.current_snapshot().summary
    assert summary.additional_properties.get("mssql_starrocks.source_row_count") == str(len(source))
    assert summary.additional_properties.get("mssql_starrocks.run_id")
    sr = e2e.starrocks_rows(devservers, "SELECT customer_id FROM glue_demo.customers ORDER BY customer_id")
    assert [r[0] for r in sr] == [r[0] for r in source]
