"""Schema evolution rules: add, widen, drop, rename-by-drop-and-add, refuse incompatible."""

import pytest

from mssql_starrocks.mapping import evolution
from mssql_starrocks.mapping import schema
from mssql_starrocks.mapping.typemap import SourceColumn


def plan(*cols, keys=("id",)):
    base = [SourceColumn("id", "int", nullable=False)]
    return schema.build("demo.dbo.t", base + list(cols), key_columns=list(keys))


def test_added_column_is_added_and_audit_columns_stay_last():
    change = evolution.diff(plan(), plan(SourceColumn("note", "nvarchar", max_length=10)))
    assert [c.name for c in change.added] == ["note"]
    names = [c.name for c in change.merged.columns]
    assert names.index("note") < names.index("_ingested_at")
    assert evolution.iceberg_ddl("lake.ns.t", change) == ["ALTER TABLE lake.ns.t ADD COLUMN `note` string"]
    assert evolution.starrocks_ddl("ns", "t", change) == ["ALTER TABLE `ns`.`t` ADD COLUMN `note` VARCHAR(30) NULL"]


@pytest.mark.parametrize("old,new,iceberg,starrocks", [
    (SourceColumn("n", "int"), SourceColumn("n", "bigint"), "bigint", "BIGINT"),
    (SourceColumn("n", "varchar", max_length=50), SourceColumn("n", "varchar", max_length=200), None, "VARCHAR(600)"),
    (SourceColumn("n", "decimal", precision=10, scale=2), SourceColumn("n", "decimal", precision=18, scale=2),
     "decimal(18,2)", "DECIMAL(18,2)"),
    (SourceColumn("n", "smallint"), SourceColumn("n", "int"), None, "INT"),
])
def test_widening_is_evolved_in_place(old, new, iceberg, starrocks):
    change = evolution.diff(plan(old), plan(new))
    assert len(change.widened) == 1
    ice = evolution.iceberg_ddl("t", change)
    assert ice == ([f"ALTER TABLE t ALTER COLUMN `n` TYPE {iceberg}"] if iceberg else [])
    assert evolution.starrocks_ddl("d", "t", change) == [f"ALTER TABLE `d`.`t` MODIFY COLUMN `n` {starrocks} NULL"]


@pytest.mark.parametrize("old,new,spark,starrocks", [
    (SourceColumn("n", "varchar", max_length=200), SourceColumn("n", "varchar", max_length=50), "string", "VARCHAR(600)"),
    (SourceColumn("n", "bigint"), SourceColumn("n", "int"), "bigint", "BIGINT"),
])
def test_narrowing_keeps_the_wider_target_types(old, new, spark, starrocks):
    change = evolution.diff(plan(old), plan(new))
    assert not change.changed
    assert change.merged.column("n").spark_type == spark
    assert change.merged.column("n").starrocks_type == starrocks


def test_dropped_column_is_kept_and_flagged_and_rename_is_drop_plus_add():
    change = evolution.diff(plan(SourceColumn("old_name", "int")), plan(SourceColumn("new_name", "int")))
    assert [c.name for c in change.dropped] == ["old_name"]
    assert [c.name for c in change.added] == ["new_name"]
    kept = change.merged.column("old_name")
    assert kept.dropped and kept.nullable
    assert "old_name" not in [c.name for c in change.merged.data_columns]
    # The next run sees the same live schema: nothing new to report.
    again = evolution.diff(change.merged, plan(SourceColumn("new_name", "int")))
    assert not again.changed


@pytest.mark.parametrize("old,new", [
    (SourceColumn("n", "int"), SourceColumn("n", "nvarchar", max_length=20)),
    (SourceColumn("n", "datetime2", scale=7), SourceColumn("n", "date")),
    (SourceColumn("n", "decimal", precision=10, scale=2), SourceColumn("n", "decimal", precision=10, scale=4)),
])
def test_incompatible_change_is_refused_naming_table_column_and_types(old, new):
    with pytest.raises(evolution.IncompatibleSchemaChange) as err:
        evolution.diff(plan(old), plan(new))
    text = str(err.value)
    assert "demo.dbo.t" in text and "column n" in text
    assert old.declared in text and new.declared in text
