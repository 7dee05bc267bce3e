"""Row-count checks between the layers of each table, read live from each layer.

raw:       SQL Server's COUNT_BIG(*) taken at extract time (kept in the landing snapshot's
           summary) = rows in that landing snapshot.
iceberg:   rows in the current Iceberg snapshot = rows in the landing snapshot it was made from.
starrocks: COUNT(*) of the live StarRocks table = rows in the current Iceberg snapshot.

A failing check says both counts and where they were read, so a broken layer is found fast.
"""


import dagster as dg

from mssql_starrocks.defs.migration.resources import IcebergResource, SparkResource, StarRocksResource
from mssql_starrocks.lib import iceberg as ice
from mssql_starrocks.lib import pipeline
from mssql_starrocks.lib.config import TablePlan
from mssql_starrocks.lib.tables import TableKeys, configured_tables, table_keys


def _count_result(*, left_name: str, left: int | None, right_name: str, right: int | None,
                  extra: dict | None = None) -> dg.AssetCheckResult:
    passed = left is not None and right is not None and left == right
    if left is None or right is None:
        missing = left_name if left is None else right_name
        description = f"{missing} is not available yet; materialize the asset first"
    elif passed:
        description = f"{left_name} = {right_name} = {left}"
    else:
        description = f"{left_name} = {left} but {right_name} = {right} (difference {left - right:+d})"
    return dg.AssetCheckResult(
        passed=passed,
        description=description,
        metadata={left_name: -1 if left is None else left, right_name: -1 if right is None else right,
                  **(extra or {})},
    )


def _build_table_checks(*, plan: TablePlan, keys: TableKeys) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset=keys.raw, name="row_count_matches_source", blocking=True,
                    description="Rows landed = SQL Server's COUNT_BIG(*) taken at extract time")
    def raw_check(spark: SparkResource, iceberg: IcebergResource) -> dg.AssetCheckResult:
        catalog = iceberg.get_client()
        session = spark.spark_session
        catalog.attach(session)
        landing = pipeline.raw_table(catalog, plan)
        snap = ice.current_snapshot(session, landing) if ice.table_exists(session, landing) else None
        source = int(snap["summary"][pipeline.SOURCE_COUNT_KEY]) if snap else None
        return _count_result(left_name="sql_server_rows", left=source, right_name="landed_rows",
                             right=snap["total_records"] if snap else None,
                             extra={"where": f"{plan.source_label} -> {landing}"})

    @dg.asset_check(asset=keys.iceberg, name="row_count_matches_raw", blocking=True,
                    description="Rows in the current Iceberg snapshot = rows in the landing snapshot it came from")
    def iceberg_check(spark: SparkResource, iceberg: IcebergResource) -> dg.AssetCheckResult:
        catalog = iceberg.get_client()
        session = spark.spark_session
        catalog.attach(session)
        table = pipeline.iceberg_table(catalog, plan)
        snap = ice.current_snapshot(session, table) if ice.table_exists(session, table) else None
        raw_rows = None
        if snap and pipeline.RAW_SNAPSHOT_KEY in snap["summary"]:
            raw_snap = ice.snapshot_by_id(session, pipeline.raw_table(catalog, plan),
                                          int(snap["summary"][pipeline.RAW_SNAPSHOT_KEY]))
            raw_rows = raw_snap["total_records"]
        return _count_result(left_name="landed_rows", left=raw_rows, right_name="iceberg_rows",
                             right=snap["total_records"] if snap else None,
                             extra={"where": table, "snapshot_id": str(snap["snapshot_id"]) if snap else ""})

    @dg.asset_check(asset=keys.starrocks, name="row_count_matches_iceberg", blocking=True,
                    description="COUNT(*) of the StarRocks table = rows in the current Iceberg snapshot")
    def starrocks_check(spark: SparkResource, iceberg: IcebergResource,
                        starrocks: StarRocksResource) -> dg.AssetCheckResult:
        catalog = iceberg.get_client()
        session = spark.spark_session
        catalog.attach(session)
        table = pipeline.iceberg_table(catalog, plan)
        snap = ice.current_snapshot(session, table) if ice.table_exists(session, table) else None
        client = starrocks.get_client()
        sr_rows = (client.count(plan.namespace, plan.table)
                   if client.table_exists(plan.namespace, plan.table) else None)
        return _count_result(left_name="iceberg_rows", left=snap["total_records"] if snap else None,
                             right_name="starrocks_rows", right=sr_rows,
                             extra={"where": f"{table} -> starrocks {plan.namespace}.{plan.table}"})

    return [raw_check, iceberg_check, starrocks_check]


@dg.definitions
def defs() -> dg.Definitions:
    checks: list[dg.AssetChecksDefinition] = []
    for plan in configured_tables():
        checks.extend(_build_table_checks(plan=plan, keys=table_keys(plan)))
    return dg.Definitions(asset_checks=checks)
