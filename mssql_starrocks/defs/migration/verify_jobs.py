"""A checks-only job per table group, `verify_<group>`: the asset checks of its tables against the
live systems, materializing nothing (what `mssql-starrocks verify` runs for a selection). With
`defaults.checks.schedule` set in the tables file, each gets a schedule `verify_<group>_schedule`
(off until turned on in Dagit, like every schedule of the project); without it, none."""

from collections import defaultdict

import dagster as dg

from mssql_starrocks.lib.tables import configured_tables, schedule_name, table_keys
from mssql_starrocks.verify import checks_job


def verify_job_name(group: str) -> str:
    return f"verify_{group}"


@dg.definitions
def defs() -> dg.Definitions:
    by_group: dict[str, list[dg.AssetKey]] = defaultdict(list)
    cron = None
    for plan in configured_tables():
        by_group[plan.group].extend(table_keys(plan).all)
        cron = plan.checks.schedule  # the defaults' (one for every table)
    jobs, schedules = [], []
    for group, keys in sorted(by_group.items()):
        job = checks_job(verify_job_name(group), keys)
        jobs.append(job)
        if cron:
            schedules.append(dg.ScheduleDefinition(
                name=schedule_name(verify_job_name(group)), cron_schedule=cron, execution_timezone="UTC", job=job,
                description=f"Runs the asset checks of the {len(keys) // 3} table(s) of {group} at '{cron}' (UTC), "
                            "materializing nothing."))
    return dg.Definitions(jobs=jobs, schedules=schedules)
