"""The StarRocks stand-in's column-by-column Stream Load path against its row-by-row path.

The fast path may only take a body whose every row the exact path accepts, and must store the
very values the exact path stores; anything else it leaves to the exact path. Each case below
is run through both and compared value by value (pure: no server needed).
"""

from __future__ import annotations

import json
import uuid

import pytest

from mssql_starrocks_devservers.starrocks import columnar, http, loading
from mssql_starrocks_devservers.starrocks.engine import Column, Engine, TableDef

HEADERS = {"format": "json", "strip_outer_array": "true", "strict_mode": "true"}

# (StarRocks type, values in JSON that the exact path loads, values it filters)
CASES = [
    ("VARCHAR(6)", ["abc", "", "äöü", "日本", None, "😀x", 5], ["日本語", "abcdefg"]),
    ("CHAR(3)", ["a", "abc"], ["abcd"]),
    ("JSON", ['{"a": 1}', "[1,2]"], []),
    ("BOOLEAN", [True, False, None, 1, 0, "true", "0"], ["yes", 2]),
    ("TINYINT", [-128, 127, 0, None, "12", "-5", True], [128, -129, "1.5", 1.5]),
    ("SMALLINT", [-32768, 32767], [32768]),
    ("INT", [-(2**31), 2**31 - 1], [2**31]),
    ("BIGINT", [-(2**63), 2**63 - 1, " 7 "], [2**63, "x"]),
    ("LARGEINT", [2**100, -(2**127)], [2**127]),
    ("DOUBLE", [1.5, -0.0, 1e308, 5, 2**70, "2.25", None], ["x"]),
    ("FLOAT", [3.25, 16777217], []),
    ("DECIMAL(19,4)", ["12.5", "+5", "-0.0001", "-0.0000", "123456789012345.1234", "1e3", " 3 ", "0.00005", 7,
                       2.5, "000000000000000000001.5"], ["1234567890123456", "x", "NaN"]),
    ("DECIMAL(4,4)", ["0.1234", ".5", "-0.9999"], ["1.0000", "1"]),
    ("DECIMAL(38,0)", ["99999999999999999999999999999999999999", "-1"], ["100000000000000000000000000000000000000"]),
    ("DECIMAL(38,10)", ["1234567890123456789012345678.0123456789"], ["12345678901234567890123456789"]),
    ("DATE", ["2020-01-05", "0001-01-01", "9999-12-31", "2020-1-5", "2020-01-05 10:11:12", None],
     ["2020-02-30", "0000-01-01", "x", 20200105]),
    ("DATETIME", ["2021-03-04 08:00:00.123456", "2021-03-04T08:00:00", "0001-01-01 00:00:00",
                  "9999-12-31 23:59:59.999999", "2021-03-04 08:00:00.1234567", "2021-03-04", "2021-3-4 8:00:00"],
     ["2021-03-04 24:00:00", "2021-02-30 00:00:00", "0000-01-01 00:00:00", "2021-03-04 08:00:60"]),
    ("VARBINARY(4)", ["ab"], ["abcde"]),
]


def table(sr_type: str, nullable: bool = True, model: str = "DUPLICATE") -> TableDef:
    columns = [Column("id", "BIGINT", False), Column("v", sr_type, nullable)]
    return TableDef("d", "t", columns, keys_type=model, key_columns=["id"])


def body(values: list, **extra) -> bytes:
    return json.dumps([{"id": i, "v": v, **extra} for i, v in enumerate(values)]).encode()


def exact(t: TableDef, data: bytes, headers=HEADERS):
    columns, ops, outcome = http._prepare_rows(t, data, headers)
    return columns, ops, outcome


def stored_rows(tmp_path, t: TableDef, columns, ops) -> list[tuple]:
    """What the table holds after committing these converted columns (a real engine file)."""
    engine = Engine(tmp_path / f"sr_{uuid.uuid4().hex}.duckdb")
    engine.create_database("d", False)
    engine.create_table(t, False)
    loading.commit(engine, t, columns, ops, label=None, txn_id=1)
    rows = engine.cursor().execute('SELECT * FROM "d"."t" ORDER BY id').fetchall()
    engine.db.close()
    return rows


@pytest.mark.parametrize("sr_type,good,bad", CASES, ids=[c[0] for c in CASES])
def test_every_accepted_value_is_stored_as_the_exact_path_stores_it(tmp_path, sr_type, good, bad):
    t = table(sr_type)
    data = body(good)
    columns, ops, outcome = exact(t, data)
    assert outcome.filtered == 0, outcome.errors  # the case table itself is right
    fast = columnar.json_columns(t, data, HEADERS)
    if fast is None:
        return _assert_declined_for_a_reason(sr_type, good)
    arrays, fast_ops, total = fast
    assert total == len(good) and fast_ops == ops
    want = stored_rows(tmp_path, t, columns, ops)
    got = stored_rows(tmp_path, t, arrays, fast_ops)
    assert [tuple(map(_norm, r)) for r in got] == [tuple(map(_norm, r)) for r in want]
    assert len(got) == len(good)


def _assert_declined_for_a_reason(sr_type: str, good: list) -> None:
    # Declining is only allowed where the fast path cannot be sure; plain values must take it.
    plain = {"VARCHAR(6)", "CHAR(3)", "JSON", "SMALLINT", "INT", "FLOAT", "DECIMAL(4,4)", "DECIMAL(38,0)",
             "DECIMAL(38,10)", "VARBINARY(4)"}
    assert sr_type not in plain, f"{sr_type}: the fast path declined plain values {good}"


@pytest.mark.parametrize("sr_type,good,bad", [c for c in CASES if c[2]], ids=[c[0] for c in CASES if c[2]])
def test_a_body_with_any_rejected_row_is_left_to_the_exact_path(sr_type, good, bad):
    t = table(sr_type)
    for value in bad:
        data = body(good + [value])
        _, _, outcome = exact(t, data)
        assert outcome.filtered == 1, (value, outcome.errors)
        assert columnar.json_columns(t, data, HEADERS) is None, value


def test_null_in_a_not_null_column_unknown_fields_and_expressions_go_the_exact_way():
    t = table("INT", nullable=False)
    assert columnar.json_columns(t, body([1, None]), HEADERS) is None
    assert columnar.json_columns(t, body([1, 2], extra_field=1), HEADERS) is None
    upper = json.dumps([{"ID": 1, "V": 2}]).encode()  # matched case-insensitively by the exact path
    assert exact(t, upper)[2].loaded == 1 and columnar.json_columns(t, upper, HEADERS) is None
    hexed = {**HEADERS, "columns": "`id`, `__hex_v`, `v`=to_binary(`__hex_v`, 'hex')"}
    assert columnar.json_columns(table("VARBINARY(4)"), json.dumps([{"id": 1, "__hex_v": "00ff"}]).encode(),
                                 hexed) is None
    assert columnar.json_columns(t, b"[1, 2]", HEADERS) is None
    assert columnar.json_columns(t, body([1]), {**HEADERS, "strip_outer_array": "false"}) is None
    assert columnar.json_columns(t, b'[{"id": 1, "v": NaN}]', HEADERS) is None


def test_ops_in_a_primary_key_table_and_refused_in_a_duplicate_table():
    pk = table("INT", model="PRIMARY")
    headers = {**HEADERS, "columns": "`id`, `v`, `__op`"}
    data = json.dumps([{"id": 1, "v": 1, "__op": 0}, {"id": 2, "v": None, "__op": 1}]).encode()
    arrays, ops, _ = columnar.json_columns(pk, data, headers)
    assert ops == [0, 1] == exact(pk, data, headers)[1]
    assert columnar.json_columns(table("INT"), data, headers) is None
    named = json.dumps([{"id": 1, "v": 1, "__op": "delete"}]).encode()
    assert columnar.json_columns(pk, named, headers) is None and exact(pk, named, headers)[1] == [1]


def _norm(v):
    """Type and value, so that 1 == 1.0 == True do not pass for one another."""
    return (type(v).__name__, v)
