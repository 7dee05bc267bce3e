"""Column profile queries and their comparison (pure)."""

import decimal

from mssql_starrocks.mapping import profile
from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.mapping.typemap import SourceColumn

COLUMNS = [
    SourceColumn("Order ID", "int", nullable=False, ordinal=1),
    SourceColumn("Note", "nvarchar", max_length=100, ordinal=2),
    SourceColumn("Price", "money", ordinal=3),
    SourceColumn("Ratio", "float", ordinal=4),
]


def test_measures_cover_non_nulls_exact_ranges_and_only_columns_starrocks_has():
    plan = sch.build("demo.dbo.t", COLUMNS, key_columns=["Order ID"])
    labels = [m.label for m in profile.measures(plan, {"order_id", "note", "price", "ratio"})]
    assert labels == ["rows", "non-null order_id", "min order_id", "max order_id", "non-null note",
                      "non-null price", "min price", "max price", "non-null ratio"]  # no float extremes
    added_since = [m.label for m in profile.measures(plan, {"order_id"})]
    assert "non-null note" not in added_since
    keyless = sch.build("demo.dbo.t", COLUMNS, key_columns=[])
    queries = profile.profile_queries(profile.measures(keyless, {"order_id"}), keyless, source_table="[d].[dbo].[t]",
                                      target_table="`d_dbo`.`t`")
    assert queries.labels == ("rows", "non-null order_id", "min order_id", "max order_id")
    assert queries.tsql == ("SELECT COUNT_BIG(*), COUNT_BIG(CASE WHEN [Order ID] IS NOT NULL THEN 1 END), "
                            "MIN([Order ID]), MAX([Order ID]) FROM [d].[dbo].[t]")
    assert queries.starrocks == "SELECT COUNT(*), COUNT(`order_id`), MIN(`order_id`), MAX(`order_id`) FROM `d_dbo`.`t`"


def test_with_a_key_the_distinct_keys_come_in_the_same_query():
    plan = sch.build("demo.dbo.t", COLUMNS, key_columns=["Order ID"])
    queries = profile.profile_queries(profile.measures(plan, {"order_id"}), plan, source_table="[d].[dbo].[t]",
                                      target_table="`d_dbo`.`t`")
    assert queries.labels == ("rows", "non-null order_id", "min order_id", "max order_id", "distinct keys")
    assert queries.tsql == (
        "SELECT p.*, k.n FROM (SELECT COUNT_BIG(*) AS m0, COUNT_BIG(CASE WHEN [Order ID] IS NOT NULL THEN 1 END) "
        "AS m1, MIN([Order ID]) AS m2, MAX([Order ID]) AS m3 FROM [d].[dbo].[t]) AS p CROSS JOIN "
        "(SELECT COUNT_BIG(*) AS n FROM (SELECT DISTINCT [Order ID] FROM [d].[dbo].[t]) AS d) AS k")
    assert queries.starrocks == (
        "SELECT p.*, k.n FROM (SELECT COUNT(*) AS m0, COUNT(`order_id`) AS m1, MIN(`order_id`) AS m2, "
        "MAX(`order_id`) AS m3 FROM `d_dbo`.`t`) AS p CROSS JOIN "
        "(SELECT COUNT(*) AS n FROM (SELECT DISTINCT `order_id` FROM `d_dbo`.`t`) AS d) AS k")


def test_compare_matches_numbers_by_value_and_names_each_difference():
    labels = ["rows", "max price", "non-null note", "min day"]
    same = profile.compare(labels, [3, decimal.Decimal("7.5000"), 2, None], [3, decimal.Decimal("7.5"), 2, None])
    assert same == []
    diff = profile.compare(labels, [3, decimal.Decimal("7.5"), 2, None], [3, decimal.Decimal("7.4"), 1, None])
    assert diff == ["max price: SQL Server 7.5, StarRocks 7.4", "non-null note: SQL Server 2, StarRocks 1"]
