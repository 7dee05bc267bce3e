"""Stream Load JSON built by Arrow kernels means the same rows as the row-by-row encoding."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import struct

import pyarrow as pa

from mssql_starrocks.target import json_rows

TEXTS = ["plain", "", None, 'quote " and \\ backslash', "tab\tnew\nline\rcr", "back\bspace\fform", "日本語 😀",
         "Zoë \u2028 sep", "ends with \\"]


def batch() -> pa.RecordBatch:
    n = len(TEXTS)
    return pa.RecordBatch.from_pydict({
        "id": pa.array(range(n), pa.int64()),
        "tiny": pa.array([-128, 127, None, 0, 1, 2, 3, 4, 5], pa.int8()),
        "flag": pa.array([True, False, None] * 3, pa.bool_()),
        "text": pa.array(TEXTS, pa.string()),
        "dbl": pa.array([1.0, -0.0, 1e308, 5e-324, 0.1, None, 1e16, 123456.789, -2.5], pa.float64()),
        "flt": pa.array([0.1, 1.0, None, 3.4e38, -1.5, 2.0, 7.25, 1e-7, 16777216.0], pa.float32()),
        "amount": pa.array([decimal.Decimal("12.3400"), None, decimal.Decimal("-0.0001")] * 3, pa.decimal128(19, 4)),
        "day": pa.array([dt.date(1, 1, 1), dt.date(9999, 12, 31), None] * 3, pa.date32()),
        "at": pa.array([dt.datetime(2021, 3, 4, 8, 0, 0, 123456), None, dt.datetime(1, 1, 1)] * 3, pa.timestamp("us")),
        "empty": pa.nulls(n),
    })


def rows_of(body: bytes) -> list[dict]:
    return json.loads(body)


def test_kernel_json_equals_row_json_value_by_value():
    b = batch()
    fast = json_rows._by_kernels(json_rows.jsonable(b), {})
    assert fast is not None  # this batch must take the fast path
    slow = json_rows._by_rows(json_rows.jsonable(b), {})
    a, z = rows_of(fast), rows_of(slow)
    assert len(a) == len(z) == b.num_rows
    for x, y in zip(a, z):
        assert list(x) == list(y)
        for key in x:
            u, v = x[key], y[key]
            if key == "flt" and u is not None:  # float32: the same float32, in fewer digits
                u, v = (struct.unpack("f", struct.pack("f", w))[0] for w in (u, v))
            assert (type(u), u) == (type(v), v), (key, u, v)
    assert a[4]["text"] == "tab\tnew\nline\rcr" and a[6]["text"] == "日本語 😀"
    assert a[0]["amount"] == "12.3400" and a[0]["at"] == "2021-03-04 08:00:00.123456" and a[0]["day"] == "0001-01-01"


def test_batches_needing_more_take_the_row_path_and_renames_apply():
    control = pa.RecordBatch.from_pydict({"t": pa.array(["bell \x07"])})
    assert json_rows._by_kernels(control, {}) is None
    assert rows_of(json_rows.rows_json(control)) == [{"t": "bell \x07"}]
    binary = pa.RecordBatch.from_pydict({"b": pa.array([b"\x00\xff", None], pa.binary())})
    assert rows_of(json_rows.rows_json(binary, {"b": "__hex_b"})) == [{"__hex_b": "00ff"}, {"__hex_b": None}]
    renamed = pa.RecordBatch.from_pydict({"x": pa.array([1])})
    assert rows_of(json_rows.rows_json(renamed, {"x": "y"})) == [{"y": 1}]


def test_joined_arrays_are_one_array():
    parts = [json_rows.rows_json(pa.RecordBatch.from_pydict({"i": pa.array([i, i + 1])})) for i in (0, 2)]
    assert rows_of(json_rows.join_arrays(parts + [b"[]"])) == [{"i": 0}, {"i": 1}, {"i": 2}, {"i": 3}]
    assert json_rows.join_arrays([b"[]"]) == b"[]"
