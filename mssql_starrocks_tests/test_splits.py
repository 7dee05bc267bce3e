"""Split planning: quantile boundaries, half-open ranges that cover every row exactly once."""

import datetime as dt

from mssql_starrocks.source import splits


def test_boundaries_follow_the_rows_not_the_key_range():
    # 90% of the rows sit on keys 1..10; the tail runs to 1_000_000.
    histogram = [(k, 900) for k in range(1, 11)] + [(k * 100_000, 100) for k in range(1, 11)]
    bounds = splits.pick_boundaries(histogram, 4)
    assert len(bounds) == 3
    assert all(b <= 10 for b in bounds[:2])  # equal-width splits would put all of them above 250_000


def test_range_predicates_are_half_open_and_take_nulls_first():
    preds = splits.range_predicates("Order ID", [30, 10, 20, 20])
    assert preds == (
        "[Order ID] < 10 OR [Order ID] IS NULL",
        "[Order ID] >= 10 AND [Order ID] < 20",
        "[Order ID] >= 20 AND [Order ID] < 30",
        "[Order ID] >= 30",
    )


def test_string_boundaries_keep_sql_servers_collation_order():
    # SQL Server's case-insensitive order is a < B < c < D; Python's would be B < D < a < c, and
    # ranges cut in that order overlap under the collation (a row in two splits) or leave gaps.
    preds = splits.range_predicates("k", ["B", "c", "D", "c"])
    assert preds == (
        "[k] < N'B' OR [k] IS NULL",
        "[k] >= N'B' AND [k] < N'c'",
        "[k] >= N'c' AND [k] < N'D'",
        "[k] >= N'D'",
    )
    # a varchar column is compared with varchar literals (its own sort rules, as in its NTILE order)
    assert splits.range_predicates("k", ["B"], unicode=False) == ("[k] < 'B' OR [k] IS NULL", "[k] >= 'B'")


def test_every_key_lands_in_exactly_one_range():
    bounds = [5, 17, 42]
    preds = splits.range_predicates("k", bounds)

    def matches(pred: str, k):
        env = {"k": k}
        expr = pred.replace("[k]", "k").replace(" IS NULL", " is None").replace("AND", "and").replace("OR", "or")
        if k is None:
            return "is None" in expr
        return eval(expr.replace(" or k is None", ""), {}, env)  # noqa: S307 - test of our own strings

    for k in [None, -1, 5, 16, 17, 41, 42, 10_000]:
        assert sum(matches(p, k) for p in preds) == 1, k


def test_literals_are_quoted_for_tsql():
    assert splits.tsql_literal("O'Brien") == "N'O''Brien'"
    assert splits.tsql_literal(dt.date(2024, 1, 2)) == "'2024-01-02'"
    assert splits.tsql_literal(dt.datetime(2024, 1, 2, 3, 4, 5, 6)) == "'2024-01-02 03:04:05.000006'"


def test_number_of_splits_scales_with_rows_and_cores():
    assert splits.wanted_splits(0, 8, "auto") == 1
    assert splits.wanted_splits(1_000_000, 2, "auto") == 4
    assert splits.wanted_splits(100_000_000, 2, "auto") == 8
    assert splits.wanted_splits(10, 2, 6) == 6


def test_checksum_buckets_for_composite_keys():
    preds = splits.checksum_predicates(["a", "b"], 3)
    assert preds[2] == "ABS(CAST(CHECKSUM([a], [b]) AS BIGINT)) % 3 = 2"
