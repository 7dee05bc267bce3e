"""Automatic splits on a skewed key: balanced partitions through the real JDBC read.

90% of the rows sit on keys 1..9000, the other 10% are spread up to 2e9. A min/max
(equal-width) split, the classic Spark JDBC `lowerBound/upperBound` setup, would put 90% of
the rows into the first partition; the project's quantile splits give each about a quarter.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from mssql_starrocks.lib import splits
from mssql_starrocks.lib.mssql import MssqlClient
from mssql_starrocks_tests import e2e

DB = "skew"


def test_the_automatic_split_balances_a_skewed_key(devservers, spark):
    e2e.mssql_rows(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    run = lambda s: e2e.mssql_rows(devservers, s, database=DB)  # noqa: E731
    run("IF OBJECT_ID('dbo.events') IS NOT NULL DROP TABLE dbo.events")
    run("CREATE TABLE dbo.events (id BIGINT NOT NULL PRIMARY KEY, payload NVARCHAR(40))")
    run("INSERT INTO dbo.events (id, payload) SELECT value, CONCAT(N'dense ', value) FROM GENERATE_SERIES(1, 9000)")
    run("INSERT INTO dbo.events (id, payload) SELECT CAST(value AS BIGINT) * 2000000, CONCAT(N'sparse ', value) "
        "FROM GENERATE_SERIES(1, 1000)")

    from mssql_starrocks.settings import mssql_settings

    client = MssqlClient(mssql_settings(devservers).with_database(DB))
    plan = splits.plan_splits(client, schema="dbo", table="events", column=None, key_columns=["id"],
                              column_types={"id": "bigint"}, row_count=10000, n=4)
    assert plan.column == "id" and plan.count == 4

    options = client.settings.jdbc_options(fetch_size=5000, isolation="read_committed")
    props = {k: v for k, v in options.items() if k != "url"}
    df = spark.read.jdbc(options["url"], "(SELECT id FROM dbo.events) AS src", predicates=list(plan.predicates),
                         properties=props)
    sizes = [r[1] for r in df.groupBy(F.spark_partition_id()).count().orderBy(F.spark_partition_id()).collect()]
    assert sum(sizes) == 10000 and df.select("id").distinct().count() == 10000  # every row exactly once
    assert len(sizes) == 4
    assert max(sizes) <= 1.3 * min(sizes), f"unbalanced partitions: {sizes}"

    # What min/max (equal-width) bounds would have done with the same table.
    lo, hi = 1, 2_000_000_000
    width = (hi - lo) / 4
    equal_width_first = run(f"SELECT COUNT(*) FROM dbo.events WHERE id < {lo + width}")[0][0]
    assert equal_width_first >= 9000
