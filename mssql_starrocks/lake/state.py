"""The migration state a table carries in its Iceberg snapshots' summaries: the one list of keys.

Every commit this project makes records the run that made it and what the rows reach; the next
run reads its state back from there (see modes), so state and data cannot disagree.
"""

from __future__ import annotations

PREFIX = "mssql_starrocks."
RUN_ID = PREFIX + "run_id"  # the Dagster run that committed the snapshot
KIND = PREFIX + "kind"  # RUN_FULL | RUN_DELTA: what this run read and committed
SOURCE_COUNT = PREFIX + "source_row_count"  # SQL Server's row count at extract time
RAW_SNAPSHOT = PREFIX + "raw_snapshot_id"  # the landing snapshot an Iceberg commit came from
WATERMARK = PREFIX + "watermark"  # watermark mode: the high mark the rows reach
CT_VERSION = PREFIX + "ct_version"  # change-tracking mode: the version the rows reach
FULL_REASON = PREFIX + "full_reason"  # why a delta mode read the whole table
CHANGE_COUNT = PREFIX + "source_change_count"  # rows the delta read, counted by SQL Server

# Entries an extract's landing snapshot passes on to the Iceberg commit.
CARRIED = (WATERMARK, CT_VERSION, FULL_REASON, CHANGE_COUNT)
# Entries shown as step metadata (without the prefix).
SHOWN = (WATERMARK, CT_VERSION, FULL_REASON)

# What one run read and committed (a mode's per-run decision).
RUN_FULL, RUN_DELTA = "full", "delta"

# Landing-only column of delta modes: I(nsert) / U(psert) / D(elete).
CHANGE_OP = "_change_op"


def short(key: str) -> str:
    """A summary key without the project's prefix, as step metadata shows it."""
    return key.removeprefix(PREFIX)


def is_delta(summary: dict[str, str]) -> bool:
    return summary.get(KIND) == RUN_DELTA
