"""Writing Iceberg tables: the landing of an extract, the table's creation and schema evolution,
and the commit of a run's rows (atomic overwrite, or MERGE by key), each one snapshot whose
summary carries the run's state (lake/state.py). What to commit is the load mode's decision."""

from __future__ import annotations

from typing import Callable

from mssql_starrocks.lake import iceberg as ice
from mssql_starrocks.lake import state
from mssql_starrocks.mapping import evolution
from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.mapping.names import backslash_escape, quote_backtick
from mssql_starrocks.modes.base import MERGE, OVERWRITE

LANDING_PROPERTIES = {"format-version": "2", "write.parquet.compression-codec": "zstd"}


def table_schema(spark, qualified: str, table_label: str) -> sch.TableSchemaPlan:
    """The schema plan an Iceberg table carries in its properties."""
    rows = spark.sql(f"SHOW TBLPROPERTIES {qualified} ('{sch.SCHEMA_PROPERTY}')").collect()
    value = rows[0]["value"] if rows else None
    if not value or value.startswith("Table "):
        raise RuntimeError(f"{qualified} has no {sch.SCHEMA_PROPERTY} property; re-run the extract for {table_label}")
    return sch.TableSchemaPlan.from_property(table_label, value)


def write_landing(df, qualified: str, schema_plan: sch.TableSchemaPlan, summary: dict[str, str]) -> None:
    """Replace the landing table with `df` in one commit carrying `summary`."""
    writer = df.writeTo(qualified).using("iceberg")
    for key, value in LANDING_PROPERTIES.items():
        writer = writer.tableProperty(key, value)
    writer = writer.tableProperty(sch.SCHEMA_PROPERTY, schema_plan.to_property())
    for key, value in summary.items():
        writer = writer.option("snapshot-property." + key, value)
    writer.createOrReplace()


def create_table(spark, qualified: str, schema_plan: sch.TableSchemaPlan, *, target_file_size_bytes: int) -> None:
    cols = ", ".join(f"{quote_backtick(c.name)} {c.spark_type}" for c in schema_plan.columns)
    spark.sql(
        f"CREATE TABLE {qualified} ({cols}) USING iceberg TBLPROPERTIES ("
        f"'format-version'='2', 'write.parquet.compression-codec'='zstd', "
        f"'write.target-file-size-bytes'='{target_file_size_bytes}', "
        f"'{sch.SCHEMA_PROPERTY}'='{backslash_escape(schema_plan.to_property())}')"
    )
    if schema_plan.key_columns:
        # Files sorted by key, so MERGEs and readers prune by key. Sorted within each write
        # task, not range-shuffled: the extract's splits are already key ranges (quantiles of
        # the key), so the files cover disjoint key ranges without a shuffle of the table.
        spark.sql(f"ALTER TABLE {qualified} WRITE LOCALLY ORDERED BY "
                  + ", ".join(quote_backtick(k) for k in schema_plan.key_columns))


def evolve_table(spark, qualified: str, landed: sch.TableSchemaPlan, *,
                 log: Callable[[str], None]) -> sch.TableSchemaPlan:
    """Carry the landed schema's changes to the table (logging each statement); the merged plan."""
    change = evolution.diff(table_schema(spark, qualified, landed.table_label), landed)
    for stmt in evolution.iceberg_ddl(qualified, change):
        log(stmt)
        spark.sql(stmt)
    spark.sql(f"ALTER TABLE {qualified} SET TBLPROPERTIES "
              f"('{sch.SCHEMA_PROPERTY}'='{backslash_escape(change.merged.to_property())}')")
    return change.merged


def commit(spark, landed, schema_plan: sch.TableSchemaPlan, qualified: str, summary: dict[str, str], *,
           how: str) -> None:
    """The landed rows into the table in one commit carrying `summary`: OVERWRITE, MERGE or SYNC
    (modes.base)."""
    from pyspark.sql import functions as F

    columns = [F.col(quote_backtick(c.name)) if c.name in landed.columns
               else F.lit(None).cast(c.spark_type).alias(c.name) for c in schema_plan.columns]
    if how == OVERWRITE:
        rows = landed.where(F.col(state.CHANGE_OP) != "D") if state.CHANGE_OP in landed.columns else landed
        writer = rows.select(*columns).writeTo(qualified)
        for key, value in summary.items():
            writer = writer.option("snapshot-property." + key, value)
        writer.overwrite(F.lit(True))  # every row replaced in one atomic commit
    else:
        _merge(spark, landed, columns, schema_plan, qualified, summary, full_sync=how != MERGE)


def _merge(spark, df, columns, schema_plan: sch.TableSchemaPlan, target: str, props: dict[str, str],
           full_sync: bool = False) -> None:
    """MERGE the landed changes by key, committing `props` in the same snapshot's summary.

    Columns dropped in SQL Server are not updated, so a row keeps the last value it had there;
    with full_sync the landing is the whole table and target rows missing from it are deleted.
    """
    from pyspark.sql import functions as F

    view = f"landing_{abs(hash((target, props[state.RAW_SNAPSHOT])))}"
    df.select(*columns, F.col(state.CHANGE_OP)).createOrReplaceTempView(view)
    keys = " AND ".join(f"t.{quote_backtick(k)} = s.{quote_backtick(k)}" for k in schema_plan.key_columns)
    names = [quote_backtick(c.name) for c in schema_plan.columns]
    updated = [quote_backtick(c.name) for c in schema_plan.columns if not c.dropped]
    op = quote_backtick(state.CHANGE_OP)
    sql = (
        f"MERGE INTO {target} t USING {view} s ON {keys} "
        f"WHEN MATCHED AND s.{op} = 'D' THEN DELETE "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(f't.{n} = s.{n}' for n in updated)} "
        f"WHEN NOT MATCHED AND s.{op} <> 'D' THEN INSERT ({', '.join(names)}) "
        f"VALUES ({', '.join(f's.{n}' for n in names)})"
        + (" WHEN NOT MATCHED BY SOURCE THEN DELETE" if full_sync else "")
    )
    ice.with_commit_properties(spark, props, lambda: spark.sql(sql))
    spark.catalog.dropTempView(view)
