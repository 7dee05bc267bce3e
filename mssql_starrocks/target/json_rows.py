"""Arrow record batches as Stream Load JSON bodies (a JSON array of objects).

Built by Arrow compute kernels (C++), not a Python dict and `json` call per row, which cost
more CPU than StarRocks spends loading the rows: every column becomes `"name":value` text
(numbers and booleans cast to text, which Arrow writes in the shortest round-trip form;
strings escaped as RFC 8259 requires), the columns are joined per row and the rows into one
array. A batch that needs anything else (binary columns, which StarRocks gets as hex text;
control characters other than the named escapes; NaN or infinity, which JSON cannot carry)
is encoded row by row with the `json` module instead, so both ways give the same rows.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any, Iterable, Iterator

from mssql_starrocks.mapping.typemap import datetime_text

# JSON string escapes that Arrow can apply by literal replacement; the backslash first.
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"),
            ("\f", "\\f"))
_ESCAPED_BYTES = {ord(raw) for raw, _ in _ESCAPES}


def jsonable(batch):
    """Dates, timestamps and decimals as StarRocks' text, formatted by Arrow's casts (Python
    datetimes cannot hold every SQL Server value; strftime is 30 times slower)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for field, column in zip(batch.schema, batch.columns):
        t = field.type
        if pa.types.is_timestamp(t):  # "YYYY-MM-DD hh:mm:ss.ffffff" (UTC for an instant)
            column = pc.cast(column.cast(pa.timestamp("us")), pa.string())
        elif pa.types.is_date(t):
            column = pc.cast(column.cast(pa.date32()), pa.string())
        elif pa.types.is_decimal(t):
            column = column.cast(pa.string())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def rows_json(batch, renamed: dict[str, str] | None = None) -> bytes:
    """The batch's rows as one JSON array (UTF-8); `renamed` maps column -> field name."""
    import pyarrow as pa

    batch = jsonable(batch)
    try:
        body = _by_kernels(batch, renamed or {})
    except pa.ArrowCapacityError:  # over 2 GiB of text in one batch: row by row, in chunks
        body = None
    return body if body is not None else _by_rows(batch, renamed or {})


def join_arrays(bodies: Iterable[bytes]) -> bytes:
    """Several JSON arrays of rows as one."""
    inner = [b[1:-1] for b in bodies if len(b) > 2]
    return b"[" + b",".join(inner) + b"]"


def _by_rows(batch, renamed: dict[str, str]) -> bytes:
    names = [renamed.get(n, n) for n in batch.schema.names]
    return b"".join(json_chunks(dict(zip(names, row.values())) for row in batch.to_pylist()))


def _by_kernels(batch, renamed: dict[str, str]) -> bytes | None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if batch.num_rows == 0:
        return b"[]"
    fragments = []
    for name, col in zip(batch.schema.names, batch.columns):
        t = col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int64 if pa.types.is_large_string(t) else np.int32)
            data = col.buffers()[2]
            raw = (np.frombuffer(data, dtype=np.uint8)[offsets[col.offset]:offsets[col.offset + len(col)]]
                   if data is not None else np.zeros(0, np.uint8))
            # Which bytes needing an escape occur at all (UTF-8 continuation bytes are >= 0x80).
            present = set(np.unique(raw[(raw < 0x20) | (raw == 0x22) | (raw == 0x5C)]).tolist())
            if present - _ESCAPED_BYTES:
                return None
            for char, escaped in _ESCAPES:
                if ord(char) in present:
                    col = pc.replace_substring(col, char, escaped)
            text = pc.binary_join_element_wise('"', col, '"', "")
        elif pa.types.is_integer(t) or pa.types.is_boolean(t):
            text = pc.cast(col, pa.string())
        elif pa.types.is_floating(t):
            if not pc.all(pc.or_kleene(pc.is_finite(col), pc.is_null(col))).as_py():
                return None
            text = pc.cast(col, pa.string())
            # Arrow writes 1.0 as "1": keep it a JSON float as Python's json does.
            integral = pc.match_substring_regex(text, "^-?[0-9]+$")
            text = pc.if_else(integral, pc.binary_join_element_wise(text, ".0", ""), text)
        elif pa.types.is_null(t):
            text = pa.nulls(len(col), pa.string())
        else:
            return None
        text = pc.fill_null(text, "null")
        key = json.dumps(renamed.get(name, name), ensure_ascii=False) + ":"
        fragments.append(pc.binary_join_element_wise(key, text, ""))
    rows = pc.binary_join_element_wise("{", pc.binary_join_element_wise(*fragments, ","), "}", "")
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(rows)], pa.int32()), rows), ",")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)
    start, end = int(offsets[joined.offset]), int(offsets[joined.offset + 1])
    return b"".join((b"[", memoryview(joined.buffers()[2])[start:end], b"]"))


# --- rows as Python values (the row-by-row way, and loads of Python rows) ---------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return datetime_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    raise TypeError(f"cannot encode {type(value).__name__} for Stream Load")


def json_chunks(rows: Iterable[dict], chunk_bytes: int = 4 * 1024 * 1024) -> Iterator[bytes]:
    """Rows as one JSON array, produced in chunks so a partition streams with bounded memory."""
    encoder = json.JSONEncoder(default=_json_default, ensure_ascii=False, allow_nan=False,
                               separators=(",", ":"))
    buf: list[str] = ["["]
    size = 1
    first = True
    for row in rows:
        piece = ("" if first else ",") + encoder.encode(row)
        first = False
        buf.append(piece)
        size += len(piece)
        if size >= chunk_bytes:
            yield "".join(buf).encode("utf-8")
            buf, size = [], 0
    buf.append("]")
    yield "".join(buf).encode("utf-8")
