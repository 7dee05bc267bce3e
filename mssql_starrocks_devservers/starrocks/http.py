"""HTTP Stream Load as StarRocks documents it: the FE redirects, the BE loads.

FE (`--http-port`): `PUT /api/{db}/{table}/_stream_load` checks Basic auth and the
`Expect: 100-continue` header (without it: "There is no 100-continue header"), then answers
307 with the BE's address, without reading the body. `GET /api/{db}/get_load_state?label=`
answers the label's state; `GET /api/health` answers OK.

BE (`--be-http-port`): checks Basic auth again, reads the body (Content-Length or chunked),
parses it (csv or json), loads it in one transaction and answers StarRocks' JSON reply. A
label already used answers "Label Already Exists" with ExistingJobStatus and loads nothing;
too many filtered rows answer "Fail" with "too many filtered rows" and load nothing; the
rejected rows are served at the reply's ErrorURL (`GET /api/_load_error_log?file=...`).

Stand-in only, for tests (StarRocks has no such endpoints): `POST /api/_devservers/fault` with
JSON {"db", "table", "kind", "delay_ms", "times"} injects a fault into the next Stream Loads of
that table (and of tables named `<table>__*`, where clients stage it): `slow` (sleep after reading the body, then load: a client killed meanwhile leaves a
committed load behind, as StarRocks would), `refuse` (StarRocks' "current running txns ...
larger than limit" failure, nothing loaded), `timeout` (sleep, then close the connection with
no reply and load nothing), `commit_then_drop` (load, then close the connection with no reply:
the client never learns the outcome), `clear`. `GET /api/_devservers/loads` lists the loads
in progress.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from mssql_starrocks_devservers.starrocks import columnar, loading
from mssql_starrocks_devservers.starrocks.engine import Engine, SrError
from mssql_starrocks_devservers.starrocks.privileges import Accounts

MAX_LABEL_LENGTH = loading.MAX_LABEL_LENGTH
# Documented Stream Load headers the stand-in does not implement: a load naming one fails.
UNSUPPORTED_HEADERS = ("where", "partitions", "temporary_partitions", "merge_condition", "jsonroot",
                       "compression", "exec_mem_limit", "two_phase_commit")
STREAM_LOAD = re.compile(r"^/api/([^/]+)/([^/]+)/_stream_load$")
LOAD_STATE = re.compile(r"^/api/([^/]+)/get_load_state$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "StarRocksHttpServer"

    def log_message(self, fmt, *args):  # quiet; errors go to the reply
        pass

    def _json(self, status: int, payload: dict, extra_headers: dict | None = None) -> None:
        body = json.dumps(payload, indent=4).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _user(self) -> str | None:
        """The Basic-auth user, if its password is right; None otherwise."""
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if self.server.accounts.authenticate(user, password) else None

    def _authorized(self) -> bool:
        return self._user() is not None

    def _deny(self) -> None:
        self.close_connection = True
        self._json(401, {"Status": "Fail", "Message": "Access denied for user, please check your user name and password",
                         "status": "FAILED", "msg": "Access denied"}, {"WWW-Authenticate": 'Basic realm="StarRocks"'})


class FeHandler(_Handler):
    def do_POST(self):
        path = urlparse(self.path)
        if path.path != "/api/_devservers/fault":
            self._json(404, {"status": "FAILED", "msg": f"Not found: {path.path}"})
            return
        if not self._authorized():
            self._deny()
            return
        spec = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        key = (spec["db"], spec["table"])
        with self.server.engine_lock:
            faults = self.server.engine.__dict__.setdefault("devservers_faults", {})
            if spec.get("kind") == "clear":
                faults.pop(key, None)
            elif spec.get("kind") in ("slow", "refuse", "timeout", "commit_then_drop"):
                faults[key] = {"kind": spec["kind"], "delay_ms": int(spec.get("delay_ms", 1000)),
                               "times": int(spec.get("times", 1))}
            else:
                self._json(400, {"status": "FAILED", "msg": f"unknown fault kind {spec.get('kind')!r}"})
                return
        self._json(200, {"status": "OK", "msg": "Success"})

    def handle_expect_100(self):
        # The FE redirects before the body is sent; it never asks for the body itself.
        return True

    def do_PUT(self):
        path = urlparse(self.path)
        m = STREAM_LOAD.match(path.path)
        self.close_connection = True  # the body (if any was sent anyway) is not read here
        if not m:
            self._json(404, {"status": "FAILED", "msg": f"Not found: {path.path}"})
            return
        if not self._authorized():
            self._deny()
            return
        if self.headers.get("Expect", "").lower() != "100-continue":
            self._json(200, {"status": "FAILED", "msg": "There is no 100-continue header"})
            return
        location = f"http://{self.server.be_host}:{self.server.be_port}{self.path}"
        self.send_response(307)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        path = urlparse(self.path)
        if path.path == "/api/health":
            self._json(200, {"status": "OK", "msg": "Success"})
            return
        if path.path == "/api/_devservers/loads":
            active = list(self.server.engine.__dict__.get("devservers_active", {}).values())
            self._json(200, {"status": "OK", "loads": active})
            return
        m = LOAD_STATE.match(path.path)
        if m:
            if not self._authorized():
                self._deny()
                return
            label = (parse_qs(path.query).get("label") or [""])[0]
            state = self.server.engine.label_state(m.group(1), label) or "UNKNOWN"
            self._json(200, {"status": "OK", "msg": "Success", "state": state})
            return
        self._json(404, {"status": "FAILED", "msg": f"Not found: {path.path}"})


class BeHandler(_Handler):
    def do_PUT(self):
        path = urlparse(self.path)
        m = STREAM_LOAD.match(path.path)
        if not m:
            self.close_connection = True
            self._json(404, {"status": "FAILED", "msg": f"Not found: {path.path}"})
            return
        if not self._authorized():
            self._deny()
            return
        body = self._read_body()
        fault = self.server.take_fault(m.group(1), m.group(2))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if fault and fault["kind"] == "refuse":
            self._json(200, {"TxnId": -1, "Label": headers.get("label", ""), "Status": "Fail",
                             "Message": "current running txns on db 10002 is 1000, larger than limit 1000",
                             "NumberTotalRows": 0, "NumberLoadedRows": 0, "NumberFilteredRows": 0})
            return
        if fault and fault["kind"] == "timeout":
            time.sleep(fault["delay_ms"] / 1000)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        active = self.server.engine.__dict__.setdefault("devservers_active", {})
        token = uuid.uuid4().hex
        active[token] = {"db": m.group(1), "table": m.group(2), "label": headers.get("label"),
                         "bytes": len(body), "started": time.time()}
        try:
            if fault and fault["kind"] == "slow":
                time.sleep(fault["delay_ms"] / 1000)
            reply = self.server.stream_load(m.group(1), m.group(2), headers, body, user=self._user())
        finally:
            active.pop(token, None)
        if fault and fault["kind"] == "commit_then_drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self._json(200, reply)

    def do_GET(self):
        path = urlparse(self.path)
        if path.path == "/api/_load_error_log":
            name = (parse_qs(path.query).get("file") or [""])[0]
            if not re.fullmatch(r"error_log_[0-9a-f]+", name):
                self._json(404, {"status": "FAILED", "msg": "no such error log"})
                return
            file = self.server.error_dir / name
            if not file.exists():
                self._json(404, {"status": "FAILED", "msg": "no such error log"})
                return
            data = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._json(404, {"status": "FAILED", "msg": f"Not found: {path.path}"})

    def _read_body(self) -> bytes:
        if self.headers.get("Expect", "").lower() == "100-continue":
            pass  # BaseHTTPRequestHandler already answered "100 Continue"
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size_line = self.rfile.readline().strip()
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class StarRocksHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, *, engine: Engine, accounts: Accounts, be_host: str, be_port: int,
                 error_dir: Path):
        super().__init__(address, handler)
        self.engine = engine
        self.accounts = accounts
        self.be_host = be_host
        self.be_port = be_port
        self.error_dir = error_dir
        error_dir.mkdir(parents=True, exist_ok=True)
        self._label_locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    engine_lock = threading.Lock()

    def take_fault(self, db: str, table: str) -> dict | None:
        with self.engine_lock:
            faults = self.engine.__dict__.get("devservers_faults", {})
            # A fault on table t also hits loads into the tables a client stages t in (t__...).
            key = next((k for k in faults if k[0] == db and (table == k[1] or table.startswith(k[1] + "__"))), None)
            if key is None:
                return None
            fault = faults[key]
            fault["times"] -= 1
            if fault["times"] == 0:
                del faults[key]
            return dict(fault)

    def _label_lock(self, db: str, label: str) -> threading.Lock:
        with self._locks_guard:
            return self._label_locks.setdefault((db, label), threading.Lock())

    def stream_load(self, db: str, table_name: str, headers: dict[str, str], body: bytes, *, user: str) -> dict:
        started = time.monotonic()
        engine = self.engine
        label = headers.get("label") or f"stream_load_{uuid.uuid4().hex}"
        txn_id = engine.next_txn_id()
        # Every documented field, on success and failure alike.
        base = {"TxnId": txn_id, "Label": label, "NumberTotalRows": 0, "NumberLoadedRows": 0,
                "NumberFilteredRows": 0, "NumberUnselectedRows": 0, "LoadBytes": len(body), "LoadTimeMs": 0,
                "BeginTxnTimeMs": 0, "StreamLoadPlanTimeMs": 0, "ReadDataTimeMs": 0, "WriteDataTimeMs": 0,
                "CommitAndPublishTimeMs": 0}
        if len(label) > MAX_LABEL_LENGTH:
            return {**base, "TxnId": -1, "Status": "Fail",
                    "Message": f"Label format error: a label cannot exceed {MAX_LABEL_LENGTH} characters, "
                               f"got {len(label)}"}
        unsupported = sorted(h for h in UNSUPPORTED_HEADERS if headers.get(h))
        if unsupported:
            return {**base, "TxnId": -1, "Status": "Fail",
                    "Message": f"not supported by the stand-in: Stream Load header {', '.join(unsupported)}"}
        with self._label_lock(db, label):
            try:
                table = engine.require_table(db, table_name)
                # The FE plans the load with the user's INSERT privilege on the table (checkLoadPriv).
                self.accounts.require(user, "INSERT", "TABLE", db, table_name)
            except SrError as exc:
                return {**base, "Status": "Fail", "Message": str(exc)}
            existing = engine.label_state(db, label)
            if existing is not None:
                return {**base, "TxnId": -1, "Status": "Label Already Exists",
                        "ExistingJobStatus": "FINISHED" if existing == "VISIBLE" else existing,
                        "Message": f"Label [{label}] has already been used."}
            partial = headers.get("partial_update", "false").lower() == "true"
            if partial and table.keys_type != "PRIMARY":
                return {**base, "Status": "Fail",
                        "Message": "partial update is only supported by primary key table"}
            try:
                max_ratio = float(headers.get("max_filter_ratio") or 0)
                fast = None if partial else columnar.json_columns(table, body, headers)
                if fast is not None:  # every row loads: converted column by column
                    columns, ops, total = fast
                    outcome = loading.Outcome(total=total, loaded=total)
                else:
                    columns, ops, outcome = _prepare_rows(table, body, headers, partial)
            except (SrError, ValueError) as exc:
                return {**base, "Status": "Fail", "Message": str(exc)}
            result = {**base, "NumberTotalRows": outcome.total, "NumberFilteredRows": outcome.filtered}
            if outcome.errors:
                name = f"error_log_{uuid.uuid4().hex}"
                (self.error_dir / name).write_text("\n".join(outcome.errors) + "\n", encoding="utf-8")
                result["ErrorURL"] = f"http://{self.be_host}:{self.be_port}/api/_load_error_log?file={name}"
            if outcome.total == 0:
                result.update(Status="Fail", Message="all partitions have no load data")
                return result
            if outcome.filtered > max_ratio * outcome.total:
                result.update(Status="Fail", Message="too many filtered rows")
                return result
            try:
                loading.commit(engine, table, columns, ops, label=label, txn_id=txn_id,
                               partial=outcome.partial_columns if partial else None)
            except SrError as exc:
                result.update(Status="Fail", Message=str(exc))
                return result
            elapsed = int((time.monotonic() - started) * 1000)
            result.update(Status="Success", Message="OK", NumberLoadedRows=outcome.loaded, LoadTimeMs=elapsed,
                          BeginTxnTimeMs=0, StreamLoadPlanTimeMs=0, ReadDataTimeMs=0, WriteDataTimeMs=elapsed,
                          CommitAndPublishTimeMs=0)
            return result


def _prepare_rows(table, body: bytes, headers: dict[str, str], partial: bool = False):
    """The exact path, row by row: every rejected row is named with StarRocks' reason."""
    records, raw = parse_body(body, headers)
    records = [_positional(r, table) for r in records]
    mapping = loading.parse_columns_header(headers.get("columns"))
    if mapping is not None:
        records = [r if "__error__" in r else _apply_mapping(r, mapping) for r in records]
    strict = headers.get("strict_mode", "false").lower() == "true"
    columns = None
    if partial:  # the columns the load names (the `columns` header, else the fields of the rows)
        named = (mapping.sources + list(mapping.derived)) if mapping is not None else \
            [k for r in records for k in r if not k.startswith("__")]
        columns = {c.name for c in table.columns if c.name.lower() in {n.lower() for n in named}}
    accepted, ops, outcome = loading.prepare(table, records, strict=strict, raw_text=raw, partial=columns)
    outcome.partial_columns = columns
    return accepted, ops, outcome


def _positional(record: dict, table) -> dict:
    if "__column_count_mismatch__" in record:
        got, want = record["__column_count_mismatch__"]
        return {"__error__": f"Value count does not match column count. Expect {want}, but got {got}"}
    if "__positional__" in record:
        fields, names = record["__positional__"], [c.name for c in table.columns]
        if len(fields) != len(names):
            return {"__error__": f"Value count does not match column count. Expect {len(names)}, but got {len(fields)}"}
        return dict(zip(names, fields))
    return record


def _apply_mapping(record: dict, mapping: loading.Mapping) -> dict:
    out = {name: record.get(name) for name in mapping.sources}
    for target, expr in mapping.derived.items():
        out[target] = loading.evaluate(expr, record)
    return out


def _separator(value: str | None, default: str) -> str:
    if not value:
        return default
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value).replace("\\t", "\t").replace(
        "\\n", "\n")


def parse_body(body: bytes, headers: dict[str, str]) -> tuple[list[dict], "list[str] | _JsonText"]:
    """The body's rows as dicts (csv: positional names from `columns`), plus their text for error logs."""
    fmt = (headers.get("format") or "csv").lower()
    text = body.decode("utf-8")
    if fmt == "json":
        stripped = text.strip()
        if not stripped:
            return [], []
        if headers.get("strip_outer_array", "false").lower() == "true":
            data = json.loads(stripped)
            if not isinstance(data, list):
                raise ValueError("JSON data is not an array-object, strip_outer_array must be FALSE")
        else:
            try:
                data = json.loads(stripped)
            except json.JSONDecodeError:
                data = [json.loads(line) for line in stripped.splitlines() if line.strip()]
            if isinstance(data, list):
                raise ValueError("JSON data is an array-object, strip_outer_array must be TRUE")
            data = [data] if isinstance(data, dict) else data
        jsonpaths = headers.get("jsonpaths")
        if jsonpaths:
            paths = json.loads(jsonpaths)
            names = loading.parse_columns_header(headers.get("columns"))
            sources = names.sources if names else []
            data = [{(sources[i] if i < len(sources) else p): _json_path(d, p) for i, p in enumerate(paths)}
                    for d in data]
        return data, _JsonText(data)
    if fmt != "csv":
        raise ValueError(f"unknown data format: {fmt}")
    col_sep = _separator(headers.get("column_separator"), "\t")
    row_sep = _separator(headers.get("row_delimiter"), "\n")
    skip = int(headers.get("skip_header") or 0)
    lines = text.split(row_sep)
    if lines and lines[-1] == "":
        lines.pop()
    lines = lines[skip:]
    enclose = headers.get("enclose")
    mapping = loading.parse_columns_header(headers.get("columns"))
    records, raw = [], []
    for line in lines:
        if enclose:
            fields = next(csv.reader(io.StringIO(line), delimiter=col_sep, quotechar=enclose,
                                     escapechar=headers.get("escape") or None))
        else:
            fields = line.split(col_sep)
        fields = [None if f == "\\N" else f for f in fields]
        raw.append(line)
        records.append({"__positional__": fields})
    # Positional fields are named by the `columns` header, or by the table's column order (caller).
    names = mapping.sources if mapping else None
    return [_name_fields(r["__positional__"], names) for r in records], raw


class _JsonText:
    """The rows' text for the error log, made only for the rows that are rejected."""

    def __init__(self, rows: list):
        self.rows = rows

    def __getitem__(self, index: int) -> str:
        return json.dumps(self.rows[index], ensure_ascii=False)[:1000]

    def __len__(self) -> int:
        return len(self.rows)


def _name_fields(fields: list, names: list[str] | None) -> dict:
    if names is None:
        return {"__positional__": fields}
    if len(fields) != len(names):
        return {"__column_count_mismatch__": (len(fields), len(names))}
    return dict(zip(names, fields))


def _json_path(doc, path: str):
    value = doc
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path.removeprefix("$")):
        key, idx = part
        if value is None:
            return None
        value = value.get(key) if key else (value[int(idx)] if int(idx) < len(value) else None)
    return value
