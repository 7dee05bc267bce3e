"""A sensor that migrates a table when its SQL Server copy changed, and only then.

Each tick reads a cheap signature per table (row count from sys.partitions plus the last write
time from sys.dm_db_index_usage_stats) and compares it with the cursor. The first tick only
records the signatures; afterwards a changed table gets one run of its three assets, keyed by
the new signature so a retried tick never starts it twice. Off by default: turn it on in Dagit.
"""


import json

import dagster as dg

from mssql_starrocks.defs.migration.resources import MssqlResource
from mssql_starrocks.source.mssql import SourceError
from mssql_starrocks.lib.tables import STEP_OF_LAYER, configured_tables, table_keys


def _build_change_sensor(*, minimum_interval_seconds: int) -> dg.SensorDefinition:
    plans = configured_tables()

    @dg.sensor(name="source_change_sensor", minimum_interval_seconds=minimum_interval_seconds,
               default_status=dg.DefaultSensorStatus.STOPPED,
               target=dg.AssetSelection.assets(*[k for p in plans for k in table_keys(p).all]),
               description="Starts a migration of each SQL Server table whose rows changed since the last tick.")
    def source_change_sensor(context, mssql: MssqlResource):
        previous = json.loads(context.cursor) if context.cursor else None
        current: dict[str, str] = {}
        requests = []
        for plan in plans:
            try:
                signature = mssql.get_client(plan.database).change_signature(plan.source_schema, plan.source_table)
            except SourceError as exc:
                context.log.warning(f"{plan.source_label}: cannot read change signature: {exc}")
                if previous and plan.source_label in previous:
                    current[plan.source_label] = previous[plan.source_label]
                continue
            current[plan.source_label] = signature
            if previous is not None and previous.get(plan.source_label) != signature:
                requests.append(dg.RunRequest(
                    run_key=f"{plan.source_label}|{signature}",
                    asset_selection=table_keys(plan).all,
                    tags={"mssql_starrocks/table": plan.source_label, "mssql_starrocks/trigger": "source_change"},
                ))
        context.update_cursor(json.dumps(current, sort_keys=True))
        if previous is None:
            return dg.SkipReason(f"recorded the signatures of {len(current)} table(s); changes start runs from now on")
        return requests or dg.SkipReason("no source table changed")

    return source_change_sensor


def failure_records(run_id: str, step_failures,
                    asset_keys_by_step: dict[str, list[dg.AssetKey]]) -> list[dg.AssetObservation]:
    """One observation per failed step's asset, naming the table, the step and the error (whole: a
    failed load's rejected rows follow its first line)."""
    observations = []
    for event in step_failures:
        error = event.event_specific_data.error if event.event_specific_data else None
        while error is not None and error.cause is not None and "Exceeded max_retries" in error.message:
            error = error.cause  # the last attempt's own error, not Dagster's retry summary
        message = error.message.strip() if error else "unknown error"
        for key in asset_keys_by_step.get(event.step_key, []):
            layer = key.path[0]
            observations.append(dg.AssetObservation(asset_key=key, metadata={
                "failed_run_id": run_id,
                "table": "/".join(key.path[1:]),
                "step": STEP_OF_LAYER.get(layer, layer),
                "error": message[:2000],
            }))
    return observations


@dg.run_failure_sensor(name="migration_failure_sensor", monitor_all_code_locations=False,
                       default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Records each failed migration step on its asset (table, step, error) in Dagit.")
def migration_failure_sensor(context: dg.RunFailureSensorContext):
    failures = context.get_step_failure_events()
    plan = context.instance.get_execution_plan_snapshot(context.dagster_run.execution_plan_snapshot_id)
    keys_by_step: dict[str, list[dg.AssetKey]] = {}
    for step in plan.steps:
        for output in step.outputs:
            if output.properties and output.properties.asset_key:
                keys_by_step.setdefault(step.key, []).append(output.properties.asset_key)
    for observation in failure_records(context.dagster_run.run_id, failures, keys_by_step):
        context.log.error(f"{observation.metadata['table'].value}: {observation.metadata['step'].value} failed in run "
                          f"{context.dagster_run.run_id}: {observation.metadata['error'].value}")
        context.instance.report_runless_asset_event(observation)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[_build_change_sensor(minimum_interval_seconds=60), migration_failure_sensor])
