import pytest

from mssql_starrocks.mapping.names import NameCollisionError, map_names, to_target_name


@pytest.mark.parametrize("source,target", [
    ("CustomerID", "customerid"),
    ("Order ID", "order_id"),
    ("naïve_ünicode", "naive_unicode"),
    ("select", "select"),
    ("we]ird`name", "we_ird_name"),
    ("2fa", "c_2fa"),
    ("  spaced  ", "spaced"),
    ("中文", "u4e2d_u6587"),
])
def test_target_names_are_glue_safe_and_stable(source, target):
    assert to_target_name(source) == target
    assert to_target_name(target) == target  # a target name maps to itself: re-mapping is stable


def test_collision_after_lowercasing_names_both_columns():
    with pytest.raises(NameCollisionError) as err:
        map_names(["Amount", "AMOUNT"], what="demo.dbo.t")
    assert "[Amount]" in str(err.value) and "[AMOUNT]" in str(err.value)


def test_mapped_names_never_take_an_audit_column_name():
    # Audit columns start with "_"; mapped source names never do.
    assert map_names(["_ingested_at", "__x"], what="t") == {"_ingested_at": "ingested_at", "__x": "x"}
