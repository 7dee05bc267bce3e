"""Prototypes of product changes, measured by `benchmarks/run.py --prototypes` (variant c).

Nothing here changes the product: each prototype is applied for the duration of variant (c)
only, by patching the module attribute the product calls, and undone afterwards.

pipelined_loads: `sr_load.stream_load_dataframe` sends one Stream Load per Spark partition,
  built and sent serially: the Python worker encodes the whole partition to JSON while the
  request body streams out, and only then does StarRocks parse and load it; while it does,
  the worker waits. Here each partition is cut into loads of at most `rows_per_load` rows and
  the next body is encoded while the previous load is in flight (one in flight per task),
  so encoding overlaps loading. Labels stay deterministic per (partition, chunk) and the
  staging-table check in `sr_load.full_reload` still verifies the total before the swap.

arrow_json: the rows' JSON is built with Arrow compute kernels (C++) instead of a Python dict
  per row and the `json` module: every column becomes `"name":value` text (numbers and
  booleans cast to text, which Arrow writes in the shortest round-trip form; strings
  escaped as JSON requires), the columns are joined per row and the rows into one array. A
  batch that needs anything else (binary columns, rare control characters, NaN/infinity)
  falls back to the product's encoder, so the bytes sent always mean the same rows.
  `check_same_rows` compares both encodings value by value.
"""

from __future__ import annotations

import contextlib

ROWS_PER_LOAD = 25_000

# JSON string escapes (RFC 8259) that Arrow can apply by literal replacement; "\\" first.
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\b", "\\b"),
            ("\f", "\\f"))
_ESCAPED_BYTES = {ord(raw) for raw, _ in _ESCAPES}


def arrow_json_body(batch) -> bytes | None:
    """The batch as a JSON array of objects, built by Arrow kernels; None if it needs the slow path."""
    import json

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from mssql_starrocks.lib import sr_load

    if batch.num_rows == 0:
        return b"[]"
    batch = sr_load._jsonable(batch)
    fragments = []
    for name, col in zip(batch.schema.names, batch.columns):
        t = col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            # Which bytes needing an escape occur at all (UTF-8 continuation bytes are >= 0x80).
            _, offsets_buf, data = col.buffers()
            raw_bytes = np.zeros(0, np.uint8)
            if data is not None:
                offsets = np.frombuffer(offsets_buf, dtype=np.int64 if pa.types.is_large_string(t) else np.int32)
                raw_bytes = np.frombuffer(data, dtype=np.uint8)[offsets[col.offset]:offsets[col.offset + len(col)]]
            present = set(np.unique(raw_bytes[(raw_bytes < 0x20) | (raw_bytes == 0x22) | (raw_bytes == 0x5C)]).tolist())
            if present - _ESCAPED_BYTES:
                return None  # other control characters: the product's encoder writes \u00XX
            for raw, escaped in _ESCAPES:
                if ord(raw) in present:
                    col = pc.replace_substring(col, raw, escaped)
            text = pc.binary_join_element_wise('"', col, '"', "")
        elif pa.types.is_integer(t) or pa.types.is_boolean(t):
            text = pc.cast(col, pa.string())
        elif pa.types.is_floating(t):
            finite = pc.is_finite(col)
            if not pc.all(pc.or_kleene(finite, pc.is_null(col))).as_py():
                return None  # the product refuses NaN/infinity (allow_nan=False); let it
            text = pc.cast(col, pa.string())
            # Arrow writes 1.0 as "1" and -0.0 as "-0"; keep them floats as Python's json does.
            integral = pc.match_substring_regex(text, "^-?[0-9]+$")
            text = pc.if_else(integral, pc.binary_join_element_wise(text, ".0", ""), text)
        elif pa.types.is_null(t):
            text = pa.nulls(len(col), pa.string())
        else:
            return None
        text = pc.fill_null(text, "null")
        fragments.append(pc.binary_join_element_wise(json.dumps(name, ensure_ascii=False) + ":", text, ""))
    rows = pc.binary_join_element_wise("{", pc.binary_join_element_wise(*fragments, ","), "}", "")
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(rows)], pa.int32()), rows), ",")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)
    start, end = int(offsets[joined.offset]), int(offsets[joined.offset + 1])
    return b"".join((b"[", memoryview(joined.buffers()[2])[start:end], b"]"))  # the UTF-8 bytes, not decoded


def python_json_body(batch) -> bytes:
    """The product's encoding of a batch (sr_load._jsonable + starrocks.json_chunks)."""
    from mssql_starrocks.lib import sr_load
    from mssql_starrocks.lib.starrocks import json_chunks

    return b"".join(json_chunks(sr_load._jsonable(batch).to_pylist()))


def check_same_rows(batch) -> None:
    """Raise unless both encodings of `batch` parse to the same values (float32 compared as float32)."""
    import json
    import struct

    import pyarrow as pa

    fast = arrow_json_body(batch)
    if fast is None:
        return
    a, b = json.loads(fast), json.loads(python_json_body(batch))
    floats32 = {f.name for f in batch.schema if pa.types.is_float32(f.type)}
    if len(a) != len(b):
        raise AssertionError(f"{len(a)} rows vs {len(b)}")
    for i, (x, y) in enumerate(zip(a, b)):
        if list(x) != list(y):
            raise AssertionError(f"row {i}: keys {list(x)} vs {list(y)}")
        for k in x:
            u, v = x[k], y[k]
            if k in floats32 and u is not None and v is not None:
                u, v = (struct.unpack("f", struct.pack("f", z))[0] for z in (u, v))
            if u != v or type(u) is not type(v):
                raise AssertionError(f"row {i} column {k}: {u!r} vs {v!r}")


def _make_pipelined_loader(settings, database: str, table: str, label_prefix: str, columns: list[str],
                           binary_columns: list[str], with_op: bool, rows_per_load: int, arrow_json: bool):
    from mssql_starrocks.lib import sr_load

    header_columns = [sr_load.HEX_PREFIX + c if c in binary_columns else c for c in columns]
    exprs = {c: f"to_binary(`{sr_load.HEX_PREFIX + c}`, 'hex')" for c in binary_columns}
    if with_op:
        header_columns.append(sr_load.OP_COLUMN)

    def load_partition(batches):
        from concurrent.futures import ThreadPoolExecutor

        import pyarrow as pa
        from pyspark import TaskContext

        from mssql_starrocks.lib.starrocks import StarRocksLoadError, json_chunks, stream_load

        part = TaskContext.get().partitionId()
        out = []

        def encode(pending_batches) -> bytes:
            if arrow_json and not binary_columns:
                merged = pa.Table.from_batches(pending_batches).combine_chunks().to_batches()
                body = arrow_json_body(merged[0]) if len(merged) == 1 else None
                if body is not None:
                    return body

            def rows():  # the product's path (binary columns hex-encoded under a prefixed name)
                for batch in pending_batches:
                    for row in sr_load._jsonable(batch).to_pylist():
                        for c in binary_columns:
                            row[sr_load.HEX_PREFIX + c] = row.pop(c)
                        yield row
            return b"".join(json_chunks(rows()))

        def send(chunk_no: int, body: bytes, count: int) -> dict:
            label = f"{label_prefix}_p{part}_c{chunk_no}"
            try:
                result = stream_load(settings, database, table, label, body, columns=header_columns,
                                     column_exprs=exprs, fmt="json")
                status, message = result.get("Status", ""), result.get("Message", "")
                reused = bool(result.get("reused"))
            except StarRocksLoadError as exc:
                result, status, message, reused = exc.result, "Fail", str(exc), False
            return {"partition": part, "label": label, "status": status,
                    "loaded": int(result.get("NumberLoadedRows", 0) or 0),
                    "filtered": int(result.get("NumberFilteredRows", 0) or 0),
                    "total": int(result.get("NumberTotalRows", count) or 0), "reused": reused, "message": message}

        with ThreadPoolExecutor(1) as pool:  # one load in flight while the next body is encoded
            pending, chunk, count, chunk_no = None, [], 0, 0

            def flush():
                nonlocal pending, chunk, count, chunk_no
                body = encode(chunk)
                if pending is not None:
                    out.append(pending.result())
                pending = pool.submit(send, chunk_no, body, count)
                chunk, count, chunk_no = [], 0, chunk_no + 1

            for batch in batches:
                while batch.num_rows:
                    take = min(batch.num_rows, rows_per_load - count)
                    chunk.append(batch.slice(0, take))
                    count += take
                    batch = batch.slice(take)
                    if count >= rows_per_load:
                        flush()
            if count:
                flush()
            if pending is not None:
                out.append(pending.result())
        if not out:
            out.append({"partition": part, "label": f"{label_prefix}_p{part}", "status": "Empty", "loaded": 0,
                        "filtered": 0, "total": 0, "reused": False, "message": ""})
        yield pa.RecordBatch.from_pylist(out, schema=pa.schema([
            ("partition", pa.int32()), ("label", pa.string()), ("status", pa.string()), ("loaded", pa.int64()),
            ("filtered", pa.int64()), ("total", pa.int64()), ("reused", pa.bool_()), ("message", pa.string())]))

    return load_partition


def pipelined_stream_load_dataframe(rows_per_load: int = ROWS_PER_LOAD, arrow_json: bool = True):
    from mssql_starrocks.lib import sr_load

    def stream_load_dataframe(df, *, settings, database, table, label_prefix, schema_plan, with_op):
        columns = [c.name for c in schema_plan.starrocks_order()]
        binary = [c.name for c in schema_plan.starrocks_order() if c.spark_type == "binary"]
        loader = _make_pipelined_loader(settings, database, table, label_prefix, columns, binary, with_op,
                                        rows_per_load, arrow_json)
        results = [r.asDict() for r in df.mapInArrow(loader, sr_load.LOAD_RESULT_SCHEMA).collect()]
        return sr_load.LoadOutcome(sorted(results, key=lambda r: (r["partition"], r["label"])), label_prefix)

    return stream_load_dataframe


@contextlib.contextmanager
def applied(rows_per_load: int = ROWS_PER_LOAD, arrow_json: bool = True):
    """Patch the product for the duration of the block; always restored."""
    import sys

    from pyspark import cloudpickle

    from mssql_starrocks.lib import sr_load

    # Spark's Python workers cannot import this file: ship its functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    original = sr_load.stream_load_dataframe
    sr_load.stream_load_dataframe = pipelined_stream_load_dataframe(rows_per_load, arrow_json)
    try:
        yield
    finally:
        sr_load.stream_load_dataframe = original
