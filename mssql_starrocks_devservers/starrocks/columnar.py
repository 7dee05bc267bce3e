"""The Stream Load fast path: a JSON body converted column by column, as StarRocks' vectorised
BE scanner does, instead of value by value.

It only ever accepts a body whose every row `loading.prepare` would accept, storing exactly
the values `types.convert` would store: each column is converted by Arrow kernels when a
cheap check proves the kernel agrees with `convert` on every value (same Python types, text
matching the same grammar, ranges checked), else by `convert` itself, value by value. Any
row that would be filtered or need anything unusual (a missing or oddly cased field, an
expression other than a field, a NULL in a NOT NULL column, a bad `__op`) makes it return
None, and the exact row-by-row path of `loading` handles the body, rejections and all. The
result is the same either way; only the time differs, as between StarRocks and a row store.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from mssql_starrocks_devservers.starrocks import loading
from mssql_starrocks_devservers.starrocks.engine import TableDef
from mssql_starrocks_devservers.starrocks.types import ConversionError, SrType, convert

_INT_TYPES = {"TINYINT": pa.int8(), "SMALLINT": pa.int16(), "INT": pa.int32(), "BIGINT": pa.int64()}
_NONE = type(None)
# The text `convert` accepts, narrowed to what Arrow's parsers read the same way.
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?$"

class _Reject(Exception):
    """A value the exact path must judge (it may be filtered, or need its exact message)."""


def json_columns(table: TableDef, body: bytes, headers: dict[str, str]) -> tuple[list[pa.Array], list[int], int] | None:
    """(one Arrow array per table column, ops, row count) for a body every row of which loads;
    None when the row-by-row path must decide."""
    if (headers.get("format") or "csv").lower() != "json" or headers.get("jsonpaths"):
        return None
    if headers.get("strip_outer_array", "false").lower() != "true":
        return None
    try:
        records = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # e.g. NaN, which Python's json module (the exact path) reads
    if not isinstance(records, list) or not records or not all(r.__class__ is dict for r in records):
        return None
    sources = _sources(table, headers)
    if sources is None:
        return None
    if not _fields_known(records, set(sources)):
        return None
    field_of = {target: field for field, target in sources.items()}
    try:
        arrays = []
        for column in table.columns:
            source = field_of.get(column.name)
            values = [r.get(source) for r in records] if source is not None else [None] * len(records)
            array = _convert_column(values, column.sr_type)
            if not column.nullable and array.null_count:
                return None
            arrays.append(array)
        ops = _ops(records, field_of.get(loading.OP), table)
        _check_key_length(table, arrays)
    except _Reject:
        return None
    return arrays, ops, len(records)


def _check_key_length(table: TableDef, arrays: list[pa.Array]) -> None:
    """A primary key over the BE's limit fails its row: the exact path names it."""
    if table.keys_type != "PRIMARY":
        return
    index = [[c.name for c in table.columns].index(table.column(k).name) for k in table.key_columns]
    types = [table.columns[i].sr_type.name for i in index]
    if all(t in loading._FIXED_KEY_SIZE for t in types):
        if sum(loading._FIXED_KEY_SIZE[t] for t in types) <= loading.PRIMARY_KEY_LIMIT:
            return
    columns = [arrays[i].to_pylist() for i in index]
    for values in zip(*columns):
        if loading.encoded_key_length(types, list(values)) > loading.PRIMARY_KEY_LIMIT:
            raise _Reject


def _sources(table: TableDef, headers: dict[str, str]) -> dict[str, str] | None:
    """Body field name -> table column name (or `__op`), as the exact path maps them."""
    by_lower = {c.name.lower(): c.name for c in table.columns}
    by_lower[loading.OP] = loading.OP
    mapping = loading.parse_columns_header(headers.get("columns"))
    names = [c.name for c in table.columns] + [loading.OP] if mapping is None else mapping.sources
    if mapping is not None and mapping.derived:
        return None  # expressions (to_binary, ...) are evaluated row by row
    out: dict[str, str] = {}
    for name in names:
        target = by_lower.get(name.lower())
        if target is None or target in out.values():
            return None
        out[name] = target
    return out


def _fields_known(records: list[dict], known: set[str]) -> bool:
    """Every field of every row is one the mapping names exactly (else case-insensitive
    matching, unselected fields and the like are the exact path's business)."""
    return all(r.keys() <= known for r in records)


def _ops(records: list[dict], field: str | None, table: TableDef) -> list[int]:
    if field is None:
        return [0] * len(records)
    values = [r.get(field) for r in records]
    if not {v.__class__ for v in values} <= {int, _NONE} or not set(values) <= {0, 1, None}:
        raise _Reject
    ops = [1 if v == 1 else 0 for v in values]
    if 1 in ops and table.keys_type not in ("PRIMARY", "UNIQUE"):
        raise _Reject
    return ops


def _convert_column(values: list[Any], t: SrType) -> pa.Array:
    array = _by_kernel(values, t)
    if array is not None:
        return array
    try:
        converted = [convert(v, t) for v in values]
    except ConversionError:
        raise _Reject from None
    return loading.arrow_column(converted, t.name)


def _by_kernel(values: list[Any], t: SrType) -> pa.Array | None:
    """The column converted by Arrow where that provably equals `convert`; None: convert it value by value."""
    kinds = {v.__class__ for v in values}
    name = t.name
    try:
        if name in ("VARCHAR", "CHAR") and kinds <= {str, _NONE}:
            array = pa.array(values, pa.string())
            if len(array) - array.null_count and pc.max(pc.binary_length(array)).as_py() > t.length:
                raise _Reject  # filtered in both modes, with StarRocks' message
            return array
        if name == "JSON" and kinds <= {str, _NONE}:
            for v in values:
                if v is not None:
                    try:
                        orjson.loads(v)
                    except orjson.JSONDecodeError:
                        raise _Reject from None  # the exact path filters it, with its reason
            return pa.array(values, pa.string())
        if name == "BOOLEAN" and kinds <= {bool, _NONE}:
            return pa.array(values, pa.bool_())
        if name in _INT_TYPES and kinds <= {int, _NONE}:
            return pc.cast(pa.array(values, pa.int64()), _INT_TYPES[name])  # out of range raises
        if name in ("FLOAT", "DOUBLE") and kinds <= {int, float, _NONE}:
            return pa.array(values, pa.float64())
        if name == "DECIMAL" and kinds <= {str, _NONE}:
            text = pa.array(values, pa.string())
            digits = max(t.precision - t.scale, 1)
            fraction = rf"(\.[0-9]{{1,{t.scale}}})?" if t.scale else ""
            if _all_match(text, rf"^[+-]?[0-9]{{1,{digits}}}{fraction}$"):
                return pc.cast(text, pa.decimal128(t.precision, t.scale))
        if name in ("DATE", "DATETIME") and kinds <= {str, _NONE}:
            text = pa.array(values, pa.string())
            if _all_match(text, _DATE if name == "DATE" else _DATETIME):
                array = pc.cast(text, pa.date32() if name == "DATE" else pa.timestamp("us"))
                # Python's dates (the exact path's) start at year 1; Arrow reads year 0 too.
                first = pa.scalar(dt.date(1, 1, 1) if name == "DATE" else dt.datetime(1, 1, 1), array.type)
                if not pc.any(pc.less(array, first)).as_py():
                    return array
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass  # e.g. 2021-02-30, or a value out of range: convert says why
    return None


def _all_match(text: pa.Array, pattern: str) -> bool:
    present = pc.drop_null(text)
    return len(present) == 0 or pc.all(pc.match_substring_regex(present, pattern)).as_py()
