"""Target schema planning and StarRocks DDL."""

import pytest

from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.mapping.typemap import SourceColumn
from mssql_starrocks.modes.base import select_list

COLUMNS = [
    SourceColumn("Order ID", "int", nullable=False, ordinal=1),
    SourceColumn("Note", "nvarchar", max_length=100, ordinal=2),
    SourceColumn("At", "datetimeoffset", scale=7, ordinal=3),
    SourceColumn("Price", "money", ordinal=4),
]


def test_plan_maps_names_adds_audit_columns_and_orders_keys_first():
    plan = sch.build("demo.dbo.t", COLUMNS, key_columns=["Order ID"])
    names = [c.name for c in plan.columns]
    assert names[:5] == ["order_id", "note", "at", "at_tz_offset_min", "price"]
    assert names[5:] == [c[0] for c in sch.AUDIT_COLUMNS]
    assert plan.key_columns == ("order_id",)
    assert select_list(plan).startswith("[Order ID] AS [order_id], [Note] AS [note]")
    restored = sch.TableSchemaPlan.from_property("demo.dbo.t", plan.to_property())
    assert restored == plan


def test_every_problem_is_reported_together_by_column_name():
    cols = COLUMNS + [SourceColumn("Blob", "cursor"), SourceColumn("NOTE", "int")]
    with pytest.raises(sch.SchemaError) as err:
        sch.build("demo.dbo.t", cols, key_columns=["missing"])
    text = str(err.value)
    assert "demo.dbo.t" in text
    assert "key column 'missing' does not exist" in text
    assert "[Blob]" in text and "CURSOR" in text
    assert "[Note] and [NOTE]" in text


def test_primary_key_ddl():
    plan = sch.build("demo.dbo.t", COLUMNS, key_columns=["Order ID"])
    ddl = sch.starrocks_create_table(plan, "demo_dbo", "t", model="primary_key", buckets=4, replication_num=1,
                                     comment="it's a table")
    assert "CREATE TABLE `demo_dbo`.`t` (" in ddl
    assert "`order_id` INT NOT NULL COMMENT 'SQL Server INT'" in ddl
    assert "`note` VARCHAR(300) NULL" in ddl
    assert "PRIMARY KEY (`order_id`)" in ddl
    assert "DISTRIBUTED BY HASH (`order_id`) BUCKETS 4" in ddl
    assert "COMMENT 'it\\'s a table'" in ddl
    assert '"replication_num" = "1"' in ddl


def test_duplicate_table_without_keys_is_randomly_distributed():
    plan = sch.build("demo.dbo.t", COLUMNS, key_columns=[])
    ddl = sch.starrocks_create_table(plan, "d", "t", model="duplicate", buckets=None, replication_num=None)
    assert "DUPLICATE KEY" not in ddl and "DISTRIBUTED BY RANDOM" in ddl


def test_primary_key_on_a_type_starrocks_cannot_key_is_refused():
    plan = sch.build("demo.dbo.t", COLUMNS, key_columns=["Price"])
    with pytest.raises(sch.SchemaError, match="key column 'price' has StarRocks type DECIMAL"):
        sch.starrocks_create_table(plan, "d", "t", model="primary_key", buckets=None, replication_num=None)
