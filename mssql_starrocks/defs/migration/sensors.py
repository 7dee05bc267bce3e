"""A sensor that migrates a table when its SQL Server copy changed, and only then.

Each tick reads a cheap signature per table (row count from sys.partitions plus the last write
time from sys.dm_db_index_usage_stats) and compares it with the cursor. The first tick only
records the signatures; afterwards a changed table gets one run of its three assets, keyed by
the new signature so a retried tick never starts it twice. Off by default: turn it on in Dagit.
"""


import json

import dagster as dg

from mssql_starrocks.defs.migration.resources import MssqlResource
from mssql_starrocks.lib.mssql import SourceError
from mssql_starrocks.lib.tables import configured_tables, table_keys


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


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[_build_change_sensor(minimum_interval_seconds=60)])
