"""One schedule per table group and cron: the tables file's `schedule` (or its default)."""


from collections import defaultdict

import dagster as dg

from mssql_starrocks.lib.tables import configured_tables, schedule_name, table_keys


@dg.definitions
def defs() -> dg.Definitions:
    by_group: dict[tuple[str, str], list[dg.AssetKey]] = defaultdict(list)
    for plan in configured_tables():
        if plan.schedule:
            by_group[(plan.group, plan.schedule)].extend(table_keys(plan).all)
    crons_per_group: dict[str, int] = defaultdict(int)
    for group, _ in by_group:
        crons_per_group[group] += 1
    schedules = []
    for (group, cron), keys in sorted(by_group.items()):
        # A group with tables on different crons gets one schedule per cron.
        name = schedule_name(group, cron if crons_per_group[group] > 1 else None)
        schedules.append(dg.ScheduleDefinition(
            name=name, cron_schedule=cron, execution_timezone="UTC",
            target=dg.AssetSelection.assets(*keys),
            description=f"Migrates the {len(keys) // 3} table(s) of {group} scheduled at '{cron}' (UTC).",
        ))
    return dg.Definitions(schedules=schedules)
