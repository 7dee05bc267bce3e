"""Optional Iceberg maintenance: a compaction asset per table that asks for it in the tables file
(`maintenance: {compaction: true}`), downstream of the table's Iceberg asset.

Incremental MERGEs and small loads leave many small files; compaction rewrites them into files
of the catalog's target size, in the table's sort order, as one Iceberg `replace` snapshot
(same rows). It shares the table's pool and run lock, so it never runs beside that table's own
steps, and the StarRocks load treats a `replace` snapshot as no change (see
`target.stream_load.delta_chain`).
"""


import dagster as dg
from dagster import AssetExecutionContext

from mssql_starrocks.defs.migration.resources import IcebergResource, SparkResource, TableLocksResource
from mssql_starrocks.lake import iceberg as ice
from mssql_starrocks.lib import pipeline
from mssql_starrocks.lib.config import TablePlan
from mssql_starrocks.lib.tables import configured_tables, table_keys, table_lock_name, table_pool


def compaction_key(plan: TablePlan) -> dg.AssetKey:
    return dg.AssetKey(["compaction", *plan.key_parts])


def _build_compaction_asset(*, plan: TablePlan) -> dg.AssetsDefinition:
    keys = table_keys(plan)

    @dg.asset(key=compaction_key(plan), deps=[keys.iceberg], kinds={"spark", "iceberg"},
              group_name=f"{plan.group}_maintenance", pool=table_pool(plan),
              owners=list(plan.owners), tags=plan.asset_tags("maintenance"),
              description=f"`{plan.source_label}`: compacts the Iceberg table's data files "
                          "(rewrite_data_files in its sort order); rows unchanged.")
    def compaction(context: AssetExecutionContext, spark: SparkResource, iceberg: IcebergResource,
                   locks: TableLocksResource) -> dg.MaterializeResult:
        locks.hold(table_lock_name(plan), label=plan.source_label, run_id=context.run.run_id, step="compaction",
                   log=context.log.info)
        catalog = iceberg.get_client()
        session = spark.spark_session
        catalog.attach(session)
        target = pipeline.iceberg_table(catalog, plan)
        if not ice.table_exists(session, target):
            raise dg.Failure(f"{plan.source_label}: {target} does not exist yet; materialize "
                             f"{keys.iceberg.to_user_string()} first", allow_retries=False)
        try:
            result = ice.compact(session, target, target_file_size_bytes=catalog.target_file_size_bytes)
        except Exception as exc:  # noqa: BLE001 - one line naming the table and step
            raise RuntimeError(f"{plan.source_label}: compaction of {target} failed: {exc}") from exc
        context.log.info(f"{plan.source_label}: {result['files_before']} -> {result['files_after']} data file(s)")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": result["rows"],
            "files_before": result["files_before"], "files_after": result["files_after"],
            "rewritten_files": result["rewritten_files"], "added_files": result["added_files"],
            "rewritten_bytes": result["rewritten_bytes"], "compacted": result["compacted"],
            "snapshot_id": dg.MetadataValue.text(str(result["snapshot_id"])), "iceberg_table": target,
        })

    return compaction


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[_build_compaction_asset(plan=plan) for plan in configured_tables()
                                  if plan.maintenance.compaction])
