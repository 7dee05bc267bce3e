"""load_mode full: every run reads the whole table and replaces it in Iceberg and StarRocks.

No state is kept; the Iceberg commit is an atomic overwrite and StarRocks is reloaded into a
staging table swapped in. The checks are strict: the counts and the column profile must match
unless SQL Server's row count moved since the extract. Spark Connect can run it.
"""

from __future__ import annotations

from mssql_starrocks.lake import state
from mssql_starrocks.modes.base import ExtractPlan, LoadMode, full_query


class FullMode(LoadMode):
    name = "full"
    merges_by_key = False
    reads_committed_state = False

    def plan_extract(self, client, plan, schema_plan, committed, *, schema_changed) -> ExtractPlan:
        return ExtractPlan(state.RUN_FULL, full_query(plan, schema_plan, with_op=False), {}, "full load")
