"""A full reload's staging table, the same whatever path fills it (Stream Load or the catalog).

A fresh staging table per attempt (`<table>__load_<run>`), leftovers of killed runs dropped
first; once filled, its row count must equal the Iceberg snapshot's, then `ALTER TABLE ... SWAP
WITH` replaces the live table atomically (readers see the old or the new table, never a mix).
A failure at any point leaves the live table as it was.
"""

from __future__ import annotations

from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.mapping.names import quote_backtick as q
from mssql_starrocks.target.starrocks import STAGING_MARK, StarRocksClient


def run_tag(run_id: str) -> str:
    return run_id.replace("-", "")[:12]


def fresh_staging(client: StarRocksClient, *, schema_plan: sch.TableSchemaPlan, database: str, table: str,
                  model: str, buckets: int | None, replication_num: int | None, comment: str | None, run_id: str,
                  table_label: str, log) -> str:
    """An empty staging table for this run (leftovers of earlier runs dropped); its name."""
    staging = f"{table}{STAGING_MARK}{run_tag(run_id)}"
    for leftover in client.tables_like(database, table + STAGING_MARK):
        if leftover != staging:
            log(f"{table_label}: dropping leftover staging table {database}.{leftover} of an earlier run")
            client.drop_table(database, leftover)
    client.drop_table(database, staging)
    client.execute(sch.starrocks_create_table(schema_plan, database, staging, model=model, buckets=buckets,
                                              replication_num=replication_num, comment=comment))
    return staging


def swap_in(client: StarRocksClient, *, database: str, table: str, staging: str, expected_rows: int,
            snapshot_id: int, table_label: str) -> None:
    """Verify the staging table holds the snapshot's rows, then make it the live table atomically."""
    loaded = client.count(database, staging)
    if loaded != expected_rows:
        client.drop_table(database, staging)
        raise RuntimeError(
            f"{table_label}: the StarRocks staging table holds {loaded} rows but Iceberg snapshot "
            f"{snapshot_id} has {expected_rows}; the live table was left unchanged"
        )
    if client.table_exists(database, table):
        client.swap(database, table, staging)
        client.drop_table(database, staging)
    else:
        client.execute(f"ALTER TABLE {q(database)}.{q(staging)} RENAME {q(table)}")
