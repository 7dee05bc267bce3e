"""The configured tables and their Dagster asset keys, shared by assets, checks, schedules, sensors."""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass

import dagster as dg

from mssql_starrocks.lib.config import TABLES_FILE_ENV, TablePlan, load_plans


# The step of each layer, as failures, locks and the failure sensor name it.
STEP_OF_LAYER = {"raw": "extract", "iceberg": "iceberg commit", "starrocks": "starrocks load"}
# What each layer's asset is, first line of its description: the three keys of a chain end alike.
LAYER_TITLE = {"raw": "Raw landing", "iceberg": "Iceberg table", "starrocks": "StarRocks table"}
# Each layer's medallion, a kind Dagit draws with its own icon and name ("Bronze", "Silver", "Gold")
# at the foot of the graph node by default: the node's title is the key's last part, the table
# name, on all three layers (Dagit 1.13 has no display name), so the kind tells them apart.
LAYER_KIND = {"raw": "bronze", "iceberg": "silver", "starrocks": "gold"}


def schedule_name(prefix: str, cron: str | None = None) -> str:
    """`<prefix>_schedule`, or with a short hash of the cron when one prefix has several crons."""
    return f"{prefix}_schedule" if cron is None else f"{prefix}_{hashlib.sha1(cron.encode()).hexdigest()[:6]}_schedule"


@dataclass(frozen=True)
class TableKeys:
    raw: dg.AssetKey
    iceberg: dg.AssetKey
    starrocks: dg.AssetKey

    @property
    def all(self) -> list[dg.AssetKey]:
        return [self.raw, self.iceberg, self.starrocks]


def table_pool(plan: TablePlan) -> str:
    """The Dagster pool every asset writing this table shares (a limit in dagster.yaml queues runs)."""
    return "table_" + "_".join(plan.key_parts)


def table_lock_name(plan: TablePlan) -> str:
    """The run lock of the target table (lib/locks): one run writes it at a time."""
    return f"{plan.namespace}.{plan.table}"


def table_keys(plan: TablePlan) -> TableKeys:
    parts = plan.key_parts
    return TableKeys(dg.AssetKey(["raw", *parts]), dg.AssetKey(["iceberg", *parts]), dg.AssetKey(["starrocks", *parts]))


@functools.lru_cache(maxsize=8)
def _cached(path: str | None) -> tuple[TablePlan, ...]:
    return tuple(load_plans(path))


def configured_tables() -> tuple[TablePlan, ...]:
    """Plans for the tables file named by MSSQL_STARROCKS_TABLES_FILE (default ./tables.yaml)."""
    return _cached(os.environ.get(TABLES_FILE_ENV))
