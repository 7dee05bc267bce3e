"""A sensor that migrates the tables whose SQL Server copy changed, and only those.

Each tick reads a cheap signature of every table (row count from sys.partitions plus the last
write time from sys.dm_db_index_usage_stats) in one query per source database, however many
tables are configured, and compares them with the cursor. The first tick only records the
signatures; afterwards the changed tables of each group get one run between them (their assets
and checks selected), keyed by the tables' new signatures so a retried tick never starts it
twice: hundreds of changed tables make a few runs, not hundreds. Off by default: turn it on in
Dagit.
"""


import hashlib
import json
from collections import defaultdict
from typing import Sequence

import dagster as dg

from mssql_starrocks.defs.migration.resources import MssqlResource
from mssql_starrocks.lib.config import TablePlan
from mssql_starrocks.lib.tables import STEP_OF_LAYER, configured_tables, table_keys
from mssql_starrocks.source.mssql import SourceError

TRIGGER_TAGS = {"mssql_starrocks/trigger": "source_change"}


def read_signatures(mssql: MssqlResource, plans: Sequence[TablePlan], log) -> tuple[dict[str, str], list[str]]:
    """{table label: signature} of the configured tables, one query per source database; and the
    labels it could not read (database unreachable, table gone), each logged once."""
    by_database: dict[str, list[TablePlan]] = defaultdict(list)
    for plan in plans:
        by_database[plan.database].append(plan)
    signatures: dict[str, str] = {}
    unread: list[str] = []
    for database, members in sorted(by_database.items()):
        try:
            found = mssql.get_client(database).change_signatures()
        except SourceError as exc:
            log(f"database {database}: cannot read the change signatures of its {len(members)} table(s): {exc}")
            unread.extend(p.source_label for p in members)
            continue
        # SQL Server compares names case-insensitively under the default collations.
        folded = {(schema.casefold(), table.casefold()): sig for (schema, table), sig in found.items()}
        for plan in members:
            signature = folded.get((plan.source_schema.casefold(), plan.source_table.casefold()))
            if signature is None:
                unread.append(plan.source_label)
            else:
                signatures[plan.source_label] = signature
    return signatures, unread


def change_requests(plans: Sequence[TablePlan], previous: dict[str, str],
                    current: dict[str, str]) -> list[dg.RunRequest]:
    """One run per group for the tables whose signature changed since `previous`."""
    changed: dict[str, list[TablePlan]] = defaultdict(list)
    for plan in plans:
        label = plan.source_label
        if label in current and previous.get(label) != current[label]:
            changed[plan.group].append(plan)
    requests = []
    for group, members in sorted(changed.items()):
        fingerprint = hashlib.sha1("\n".join(f"{p.source_label}|{current[p.source_label]}"
                                              for p in members).encode()).hexdigest()[:16]
        tags = {**TRIGGER_TAGS, "mssql_starrocks/group": group, "mssql_starrocks/tables": str(len(members))}
        if len(members) == 1:
            tags["mssql_starrocks/table"] = members[0].source_label
        requests.append(dg.RunRequest(
            run_key=f"{group}|{len(members)}|{fingerprint}",
            asset_selection=[key for p in members for key in table_keys(p).all],
            tags=tags,
        ))
    return requests


def _build_change_sensor(*, plans: Sequence[TablePlan], minimum_interval_seconds: int) -> dg.SensorDefinition:
    @dg.sensor(name="source_change_sensor", minimum_interval_seconds=minimum_interval_seconds,
               default_status=dg.DefaultSensorStatus.STOPPED,
               target=dg.AssetSelection.assets(*[k for p in plans for k in table_keys(p).all]),
               description="Starts one migration per group of the SQL Server tables whose rows changed since the "
                           "last tick.")
    def source_change_sensor(context, mssql: MssqlResource):
        previous = json.loads(context.cursor) if context.cursor else None
        current, unread = read_signatures(mssql, plans, context.log.warning)
        if unread:
            context.log.warning(f"{len(unread)} table(s) without a change signature this tick (kept as they were): "
                                + ", ".join(unread[:20]) + (" ..." if len(unread) > 20 else ""))
        for label in unread:  # a table not read this tick keeps its last signature
            if previous and label in previous:
                current[label] = previous[label]
        context.update_cursor(json.dumps(current, sort_keys=True))
        if previous is None:
            return dg.SkipReason(f"recorded the signatures of {len(current)} table(s); changes start runs from now on")
        requests = change_requests(plans, previous, current)
        if requests:
            context.log.info(f"{sum(int(r.tags['mssql_starrocks/tables']) for r in requests)} changed table(s) in "
                             f"{len(requests)} run(s), one per group")
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
    return dg.Definitions(sensors=[_build_change_sensor(plans=configured_tables(), minimum_interval_seconds=60), migration_failure_sensor])
