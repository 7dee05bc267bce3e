"""Automatic splits on a skewed key: balanced partitions through the real JDBC read.

90% of the rows sit on keys 1..9000, the other 10% are spread up to 2e9. A min/max
(equal-width) split, the classic Spark JDBC `lowerBound/upperBound` setup, would put 90% of
the rows into the first partition; the project's quantile splits give each about a quarter.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mssql_starrocks.source.mssql import MssqlClient
from mssql_starrocks_tests import e2e

DB = "skew"


def test_the_automatic_split_balances_a_skewed_key(devservers, spark, tmp_path):
    e2e.mssql_rows(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    run = lambda s: e2e.mssql_rows(devservers, s, database=DB)  # noqa: E731
    run("IF OBJECT_ID('dbo.events') IS NOT NULL DROP TABLE dbo.events")
    run("CREATE TABLE dbo.events (id BIGINT NOT NULL PRIMARY KEY, payload NVARCHAR(40))")
    run("INSERT INTO dbo.events (id, payload) SELECT value, CONCAT(N'dense ', value) FROM GENERATE_SERIES(1, 9000)")
    run("INSERT INTO dbo.events (id, payload) SELECT CAST(value AS BIGINT) * 2000000, CONCAT(N'sparse ', value) "
        "FROM GENERATE_SERIES(1, 1000)")

    from mssql_starrocks.source import extract
    from mssql_starrocks.lib.config import load_plans
    from mssql_starrocks.settings import mssql_settings

    tables_file = tmp_path / "tables.yaml"
    tables_file.write_text(f"database: {DB}\ntables:\n  - {{schema: dbo, name: events, key_columns: [id], "
                           "extract: {num_partitions: 4}}\n")
    (plan,) = load_plans(tables_file)
    client = MssqlClient(mssql_settings(devservers).with_database(DB))
    schema_plan = extract.source_schema(client, plan)
    split = extract.plan_extract_splits(spark, client, plan, schema_plan, client.row_count("dbo", "events"))
    assert split.column == "id" and split.count == 4

    # The extract's own JDBC read, with the extract's own predicates.
    df = extract.jdbc_frame(spark, client, plan, "SELECT id FROM dbo.events", list(split.predicates))
    sizes = [r[1] for r in df.groupBy(F.spark_partition_id()).count().orderBy(F.spark_partition_id()).collect()]
    assert sum(sizes) == 10000 and df.select("id").distinct().count() == 10000  # every row exactly once
    assert len(sizes) == 4
    # Equal-width bounds over 1..2e9 would put the 9000 dense rows (90%) into the first partition.
    assert max(sizes) <= 1.3 * min(sizes), f"unbalanced partitions: {sizes}"
