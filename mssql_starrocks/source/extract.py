"""Reading a SQL Server table into Spark: the live schema (checked against the tables file), the
split of the read into parallel JDBC partitions, and the JDBC read itself."""

from __future__ import annotations

from mssql_starrocks.lib.config import TablePlan, check_against_source
from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.source import splits
from mssql_starrocks.source.mssql import MssqlClient, TableNotFound


def source_schema(client: MssqlClient, plan: TablePlan) -> sch.TableSchemaPlan:
    """The target schema from the live catalog, after checking the table and the key, watermark
    and partition columns the tables file names exist there."""
    try:
        live = client.columns(plan.source_schema, plan.source_table)
    except TableNotFound:
        check_against_source(plan, None, client.settings.display)
        raise
    check_against_source(plan, [c.name for c in live], client.settings.display)
    return plan.schema_plan(live)


def spark_cores(spark) -> int:
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # noqa: BLE001 - Spark Connect has no SparkContext
        return int(spark.conf.get("spark.default.parallelism", "4"))


def plan_extract_splits(spark, client: MssqlClient, plan: TablePlan, schema_plan: sch.TableSchemaPlan,
                        row_count: int) -> splits.SplitPlan:
    types = {c.source_name: c.base_type for c in schema_plan.data_columns}
    n = splits.wanted_splits(row_count, spark_cores(spark), plan.extract.num_partitions)
    return splits.plan_splits(client, schema=plan.source_schema, table=plan.source_table,
                              column=plan.spec.partition_column, key_columns=plan.spec.key_columns,
                              column_types=types, row_count=row_count, n=n,
                              explicit=isinstance(plan.extract.num_partitions, int))


def jdbc_frame(spark, client: MssqlClient, plan: TablePlan, query: str, predicates: list[str]):
    options = client.settings.jdbc_options(fetch_size=plan.extract.fetch_size, isolation=plan.extract.isolation)
    subquery = f"({query}) AS src"
    if predicates:
        props = {k: v for k, v in options.items() if k != "url"}
        return spark.read.jdbc(options["url"], subquery, predicates=predicates, properties=props)
    return spark.read.format("jdbc").options(**options).option("dbtable", subquery).load()
