"""One schedule per maintenance cron: the compaction assets whose tables set `maintenance.schedule`."""


from collections import defaultdict

import dagster as dg

from mssql_starrocks.defs.maintenance.assets import compaction_key
from mssql_starrocks.lib.tables import configured_tables, schedule_name


@dg.definitions
def defs() -> dg.Definitions:
    by_cron: dict[str, list[dg.AssetKey]] = defaultdict(list)
    for plan in configured_tables():
        if plan.maintenance.compaction and plan.maintenance.schedule:
            by_cron[plan.maintenance.schedule].append(compaction_key(plan))
    return dg.Definitions(schedules=[
        dg.ScheduleDefinition(
            name=schedule_name("compaction", cron), cron_schedule=cron,
            execution_timezone="UTC", target=dg.AssetSelection.assets(*keys),
            description=f"Compacts the Iceberg files of {len(keys)} table(s) at '{cron}' (UTC).")
        for cron, keys in sorted(by_cron.items())
    ])
