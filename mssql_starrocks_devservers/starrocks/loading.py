"""Rows into a table, with StarRocks' load semantics (shared by Stream Load and INSERT).

Each input row is mapped to the table's columns (a Stream Load `columns` header may rename
and derive columns), converted to the column types, and either accepted or filtered with the
reason StarRocks logs. strict_mode=true filters a row whose value fails conversion;
strict_mode=false turns such a value into NULL (still filtered if the column is NOT NULL). A
value longer than a VARCHAR's byte length is filtered in both modes. The accepted rows commit
in one transaction: all become visible or none. PRIMARY KEY tables upsert by key and delete
rows whose `__op` is 1 (or 'delete').
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mssql_starrocks_devservers.starrocks.engine import META, Engine, SrError, TableDef, qi
from mssql_starrocks_devservers.starrocks.types import ConversionError, convert

OP = "__op"
MAX_LABEL_LENGTH = 128  # System limits: a label cannot exceed 128 characters

# BE config primary_key_limit_size: an encoded primary key value longer than this fails the row.
PRIMARY_KEY_LIMIT = 128
PK_TOO_LONG = "primary key size exceed the limit."
_FIXED_KEY_SIZE = {"BOOLEAN": 1, "TINYINT": 1, "SMALLINT": 2, "INT": 4, "BIGINT": 8, "LARGEINT": 16, "DATE": 4,
                   "DATETIME": 8}


def encoded_key_length(types: list[str], values: list[Any]) -> int:
    """The length of a primary key value as the BE encodes it: fixed-width columns take their
    width; a string key alone is its bytes; in a composite key every string but the last is
    escaped (each 0x00 doubled) and ends with a 2-byte terminator."""
    total, last = 0, len(types) - 1
    for i, (name, value) in enumerate(zip(types, values)):
        if name in _FIXED_KEY_SIZE:
            total += _FIXED_KEY_SIZE[name]
            continue
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value or b"")
        total += len(data) if i == last else len(data) + data.count(0) + 2
    return total


@dataclass
class Mapping:
    """A parsed `columns` header: source field names, and target columns derived by expressions."""

    sources: list[str]
    derived: dict[str, str] = field(default_factory=dict)  # target -> expression text


def parse_columns_header(text: str | None) -> Mapping | None:
    if not text:
        return None
    items, depth, buf, quote = [], 0, "", None
    for ch in text:
        if quote:
            buf += ch
            if ch == quote:
                quote = None
            continue
        if ch in ("'", '"'):
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(buf.strip())
            buf = ""
            continue
        buf += ch
    if buf.strip():
        items.append(buf.strip())
    mapping = Mapping([])
    for item in items:
        m = _ASSIGN.match(item)
        if m:
            mapping.derived[_unquote(m.group(1))] = m.group(2).strip()
        else:
            mapping.sources.append(_unquote(item))
    return mapping


_ASSIGN = re.compile(r"^\s*(`(?:[^`]|``)*`|[^=\s(`]+)\s*=(.*)$", re.S)


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == "`":
        return name[1:-1].replace("``", "`")
    return name


_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)$", re.S)


def evaluate(expr: str, row: dict[str, Any]) -> Any:
    """The few expressions a `columns` header needs: field refs, literals, to_binary/unhex/from_base64."""
    expr = expr.strip()
    if expr.startswith("`") or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expr):
        name = _unquote(expr)
        if name.lower() == "null":
            return None
        return row.get(name)
    if len(expr) >= 2 and expr[0] == expr[-1] and expr[0] in "'\"":
        return expr[1:-1]
    if re.fullmatch(r"[+-]?\d+(\.\d+)?", expr):
        return expr
    m = _CALL.match(expr)
    if not m:
        raise SrError(f"Getting syntax error from line 1, column 0. Detail message: unsupported expression {expr}")
    func = m.group(1).lower()
    args = _split_args(m.group(2))
    values = [evaluate(a, row) for a in args]
    if values and values[0] is None:
        return None
    if func == "to_binary":
        kind = (values[1] if len(values) > 1 else "hex").lower()
        text = str(values[0])
        try:
            if kind == "hex":
                return binascii.unhexlify(text)
            if kind == "encode64":
                return base64.b64decode(text, validate=True)
            if kind == "utf8":
                return text.encode("utf-8")
        except (binascii.Error, ValueError):
            return b""  # as documented: an invalid input gives an empty binary
        raise SrError(f"to_binary: unknown binary type '{kind}'")
    if func == "unhex":
        try:
            return binascii.unhexlify(str(values[0])).decode("utf-8", "replace")
        except binascii.Error:
            return ""
    if func == "from_base64":
        try:
            return base64.b64decode(str(values[0])).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
    if func in ("upper", "lower"):
        return getattr(str(values[0]), func)()
    raise SrError(f"Getting syntax error. Detail message: No matching function with signature: {func}")


def _split_args(text: str) -> list[str]:
    out, depth, buf, quote = [], 0, "", None
    for ch in text:
        if quote:
            buf += ch
            if ch == quote:
                quote = None
            continue
        if ch in ("'", '"'):
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(buf)
            buf = ""
            continue
        buf += ch
    if buf.strip():
        out.append(buf)
    return out


@dataclass
class Outcome:
    total: int = 0
    loaded: int = 0
    filtered: int = 0
    errors: list[str] = field(default_factory=list)
    committed: bool = False
    partial_columns: set[str] | None = None  # a partial update: the columns the load names


def prepare(table: TableDef, records: list[dict[str, Any]], *, strict: bool, raw_text: list[str] | None = None,
            partial: set[str] | None = None):
    """Convert mapped records; returns (accepted rows as column lists, ops, Outcome with the rejections).
    `partial` (a partial update): only these columns are loaded; the others are left as they are."""
    names = [c.name for c in table.columns]
    types = [c.sr_type for c in table.columns]
    nullable = [c.nullable for c in table.columns]
    lower = {n.lower(): n for n in names}
    columns: list[list] = [[] for _ in names]
    ops: list[int] = []
    outcome = Outcome(total=len(records))
    is_pk = table.keys_type in ("PRIMARY", "UNIQUE")
    pk_check = None
    if table.keys_type == "PRIMARY":
        key_index = [names.index(table.column(k).name) for k in table.key_columns]
        pk_check = ([types[i].name for i in key_index], key_index)
    for index, record in enumerate(records):
        reason = record.get("__error__")
        record = {lower.get(k.lower(), k): v for k, v in record.items()}
        converted = []
        for name, t, can_null in zip(names, types, nullable):
            if reason is not None:
                break
            if partial is not None and name not in partial:
                converted.append(None)
                continue
            value = record.get(name)
            try:
                value = convert(value, t)
            except ConversionError as exc:
                if strict or "length beyond the limit" in str(exc):
                    reason = f"{exc}. Column: {name}"
                    break
                value = None
            if value is None and not can_null:
                reason = f"NULL value in non-nullable column '{name}'"
                break
            converted.append(value)
        if reason is None and pk_check is not None:
            key_types, key_index = pk_check
            if encoded_key_length(key_types, [converted[i] for i in key_index]) > PRIMARY_KEY_LIMIT:
                reason = PK_TOO_LONG
        op = 0
        if reason is None and OP in record and record[OP] is not None:
            raw_op = str(record[OP]).strip().lower()
            if raw_op in ("1", "delete"):
                op = 1
            elif raw_op not in ("0", "upsert"):
                reason = f"Invalid __op value: {record[OP]}"
            if op == 1 and not is_pk:
                reason = "__op = 1 (delete) needs a primary key table"
        if reason is not None:
            outcome.filtered += 1
            if len(outcome.errors) < 1000:
                shown = raw_text[index] if raw_text else repr(record)
                outcome.errors.append(f"Error: {reason}. Row: {shown[:1000]}")
            continue
        for i, value in enumerate(converted):
            columns[i].append(value)
        ops.append(op)
    outcome.loaded = len(ops)
    return columns, ops, outcome


def commit(engine: Engine, table: TableDef, columns: list, ops: list[int], *, label: str | None,
           txn_id: int, overwrite: bool = False, partial: set[str] | None = None) -> None:
    """Write accepted rows (one list or Arrow array per column) in one transaction, recording
    the label as VISIBLE with them. In a PRIMARY KEY table the last row of a key wins."""
    names = [c.name for c in table.columns]
    target = f"{qi(table.database)}.{qi(table.name)}"
    is_pk = table.keys_type in ("PRIMARY", "UNIQUE")
    batch = pa.table([arrow_column(values, c.sr_type.name) for values, c in zip(columns, table.columns)],
                     names=[f"c{i}" for i in range(len(names))])
    if is_pk and ops:
        keys = [f"c{names.index(k)}" for k in table.key_columns]
        numbered = batch.append_column("__i", pa.array(range(len(ops)), pa.int64())).append_column(
            "__o", pa.array(ops, pa.int8()))
        last = numbered.group_by(keys, use_threads=False).aggregate([("__i", "max")])["__i_max"]
        kept = numbered.take(pc.sort_indices(last))
        upserts = kept.filter(pc.equal(kept["__o"], 0)).drop_columns(["__i", "__o"])
        deletes = kept.filter(pc.equal(kept["__o"], 1)).select(keys)
    else:
        upserts, deletes = batch, None
    with engine.write_lock:
        db = engine.db
        db.execute("BEGIN")
        try:
            if label is not None:
                if engine.label_state(table.database, label) is not None:
                    raise SrError(f"Label [{label}] has already been used.", 5025)
                db.execute(f"INSERT INTO {META}.labels (db, label, state, txn_id, loaded) VALUES (?, ?, 'VISIBLE', ?, ?)",
                           [table.database, label, txn_id, len(ops)])
            if overwrite:
                db.execute(f"DELETE FROM {target}")
            if deletes is not None and deletes.num_rows:
                _delete_keys(db, target, table, deletes)
            if upserts.num_rows:
                _insert(db, target, table, upserts, replace=is_pk, partial=partial)
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise


def arrow_column(values, sr_name: str) -> pa.Array:
    """Converted values as an Arrow array DuckDB casts to the column's type (arrays pass through)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if sr_name == "LARGEINT":
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if sr_name == "VARBINARY":
        return pa.array(values, type=pa.binary())
    if sr_name in ("VARCHAR", "CHAR", "JSON"):
        return pa.array(values, type=pa.string())
    if sr_name == "BOOLEAN":
        return pa.array(values, type=pa.bool_())
    if sr_name in ("TINYINT", "SMALLINT", "INT", "BIGINT"):
        return pa.array(values, type=pa.int64())
    if sr_name in ("FLOAT", "DOUBLE"):
        return pa.array(values, type=pa.float64())
    if sr_name == "DATE":
        return pa.array(values, type=pa.date32())
    if sr_name == "DATETIME":
        return pa.array(values, type=pa.timestamp("us"))
    if sr_name == "DECIMAL":
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    return pa.array(values)


def _insert(db, target: str, table: TableDef, batch: pa.Table, replace: bool, partial: set[str] | None = None) -> None:
    db.register("__sr_load_batch", batch)
    try:
        pairs = [(n, c) for n, c in zip(batch.column_names, table.columns)
                 if partial is None or c.name in partial or c.name in table.key_columns]
        casts = ", ".join(f"CAST({n} AS {c.sr_type.duckdb})" for n, c in pairs)
        cols = ", ".join(qi(c.name) for _, c in pairs)
        if partial is not None:  # existing rows keep the columns the load does not name
            keys = ", ".join(qi(k) for k in table.key_columns)
            sets = ", ".join(f"{qi(c.name)} = EXCLUDED.{qi(c.name)}" for _, c in pairs
                             if c.name not in table.key_columns)
            action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
            db.execute(f"INSERT INTO {target} ({cols}) SELECT {casts} FROM __sr_load_batch "
                       f"ON CONFLICT ({keys}) {action}")
            return
        verb = "INSERT OR REPLACE INTO" if replace else "INSERT INTO"
        db.execute(f"{verb} {target} ({cols}) SELECT {casts} FROM __sr_load_batch")
    finally:
        db.unregister("__sr_load_batch")


def _delete_keys(db, target: str, table: TableDef, keys: pa.Table) -> None:
    key_cols = [table.column(k) for k in table.key_columns]
    db.register("__sr_delete_batch", keys)
    try:
        cond = " AND ".join(f"{target}.{qi(c.name)} = CAST(d.{n} AS {c.sr_type.duckdb})"
                            for n, c in zip(keys.column_names, key_cols))
        db.execute(f"DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM __sr_delete_batch d WHERE {cond})")
    finally:
        db.unregister("__sr_delete_batch")
