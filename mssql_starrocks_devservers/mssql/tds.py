"""The TDS 7.4 listener: PRELOGIN, LOGIN7, SQL batches, RPC, ATTENTION, streamed results.

Framing, PRELOGIN/LOGIN7 parsing and the login/DONE/ERROR/ENVCHANGE tokens come from
pysqlbridge's public modules (`pysqlbridge.tds.*`). What it lacks is here: answering PRELOGIN
with ENCRYPT_NOT_SUP when the client does not want encryption (mssql-jdbc with encrypt=false
skips TLS only then), full-session TLS when the client asks for it (encrypt=true), the RPCs
mssql-jdbc and python-tds send (sp_executesql with unnamed parameters, sp_prepexec,
sp_prepare / sp_execute / sp_unprepare, with RETURNSTATUS, RETURNVALUE and DONEPROC), typed
COLMETADATA for every SQL Server type, and rows streamed packet by packet, so a big result is
never built in memory and an ATTENTION stops it.
"""

from __future__ import annotations

import decimal
import logging
import select
import socket
import socketserver
import ssl
import struct
import threading
import datetime as dt
import uuid

from pysqlbridge.tds.login import Login7, deobfuscate_password
from pysqlbridge.tds.prelogin import Encryption, Prelogin, Version, server_response
from pysqlbridge.tds.token import (
    DoneStatus, EnvChangeType, env_change, info, login_response, negotiate,
)


from mssql_starrocks_devservers.mssql.catalog import ConnectionDropped, MssqlError, Server
from mssql_starrocks_devservers.mssql.engine import Session

log = logging.getLogger("mssql-standin")

PT_SQL_BATCH, PT_RPC, PT_TABULAR, PT_ATTENTION, PT_TRANSACTION, PT_LOGIN7, PT_PRELOGIN = 1, 3, 4, 6, 14, 16, 18
TOKEN_COLMETADATA, TOKEN_ROW, TOKEN_DONE, TOKEN_DONEPROC, TOKEN_DONEINPROC = 0x81, 0xD1, 0xFD, 0xFE, 0xFF
TOKEN_RETURNSTATUS, TOKEN_RETURNVALUE = 0x79, 0xAC
SERVER_VERSION = (16, 0, 4135)
SERVER_NAME = "mssql-standin"
PROC_NAMES = {1: "sp_cursor", 2: "sp_cursoropen", 3: "sp_cursorprepare", 4: "sp_cursorexecute",
              5: "sp_cursorprepexec", 6: "sp_cursorunprepare", 7: "sp_cursorfetch", 8: "sp_cursoroption",
              9: "sp_cursorclose", 10: "sp_executesql", 11: "sp_prepare", 12: "sp_execute", 13: "sp_prepexec",
              14: "sp_prepexecrpc", 15: "sp_unprepare"}


def _utf16_varchar(text: str, width: str) -> bytes:
    encoded = text.encode("utf-16-le", "surrogatepass")
    return struct.pack(width, len(encoded) // 2) + encoded


def error(number: int, message: str, *, state: int = 1, severity: int = 16, server: str = "",
          procedure: str = "", line: int = 1) -> bytes:
    """An ERROR token. Lengths count UTF-16 code units, so a message holding a character outside
    the BMP (a surrogate pair) keeps the stream in step."""
    body = (struct.pack("<iBB", number, state, severity) + _utf16_varchar(message, "<H")
            + _utf16_varchar(server, "<B") + _utf16_varchar(procedure, "<B") + struct.pack("<i", line))
    return bytes([0xAA]) + struct.pack("<H", len(body)) + body


class ClientGone(Exception):
    pass


class Attention(Exception):
    pass


# --- RPC parameters ---------------------------------------------------------------------------
class _Reader:
    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        if len(out) < n:
            raise MssqlError(8009, "The incoming tabular data stream (TDS) remote procedure call (RPC) protocol "
                                   "stream is incorrect.", 16)
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def _plp(r: _Reader) -> bytes | None:
    total = struct.unpack("<Q", r.take(8))[0]
    if total == 0xFFFFFFFFFFFFFFFF:
        return None
    parts = []
    while True:
        n = r.u32()
        if n == 0:
            break
        parts.append(r.take(n))
    return b"".join(parts)


_FIXED = {0x30: 1, 0x34: 2, 0x38: 4, 0x7F: 8, 0x32: 1, 0x3B: 4, 0x3E: 8, 0x3C: 8, 0x7A: 4, 0x3D: 8, 0x3A: 4, 0x1F: 0}
_EPOCH0 = dt.date(1, 1, 1)


def read_param_value(r: _Reader):
    """TYPE_INFO and value of one RPC parameter ([MS-TDS] 2.2.5.4-2.2.5.5)."""
    t = r.u8()
    if t in _FIXED:
        raw = r.take(_FIXED[t])
        return _decode_fixed(t, raw)
    if t in (0x26, 0x68, 0x6D, 0x6E, 0x6F, 0x24):
        r.u8()
        n = r.u8()
        if n == 0:
            return None
        raw = r.take(n)
        if t == 0x26:
            return int.from_bytes(raw, "little", signed=n != 1)
        if t == 0x68:
            return raw[0] != 0
        if t == 0x6D:
            return struct.unpack("<f" if n == 4 else "<d", raw)[0]
        if t == 0x6E:
            if n == 8:
                hi, lo = struct.unpack("<iI", raw)
                return decimal.Decimal((hi << 32) | lo) / 10000
            return decimal.Decimal(struct.unpack("<i", raw)[0]) / 10000
        if t == 0x6F:
            if n == 8:
                days, ticks = struct.unpack("<iI", raw)
                return dt.datetime(1900, 1, 1) + dt.timedelta(days=days, microseconds=round(ticks * 10000 / 3))
            days, minutes = struct.unpack("<HH", raw)
            return dt.datetime(1900, 1, 1) + dt.timedelta(days=days, minutes=minutes)
        return uuid.UUID(bytes_le=raw)
    if t in (0x6A, 0x6C):
        r.u8()
        _precision, scale = r.u8(), r.u8()
        n = r.u8()
        if n == 0:
            return None
        raw = r.take(n)
        value = decimal.Decimal(int.from_bytes(raw[1:], "little")).scaleb(-scale)
        return value if raw[0] == 1 else -value
    if t == 0x28:
        n = r.u8()
        return None if n == 0 else _EPOCH0 + dt.timedelta(days=int.from_bytes(r.take(3), "little"))
    if t in (0x29, 0x2A, 0x2B):
        scale = r.u8()
        n = r.u8()
        if n == 0:
            return None
        raw = r.take(n)
        tlen = 3 if scale <= 2 else 4 if scale <= 4 else 5
        units = int.from_bytes(raw[:tlen], "little")
        micros = units * 10 ** (6 - scale) if scale <= 6 else units // 10
        if t == 0x29:
            return (dt.datetime.min + dt.timedelta(microseconds=micros)).time()
        day = _EPOCH0 + dt.timedelta(days=int.from_bytes(raw[tlen:tlen + 3], "little"))
        value = dt.datetime.combine(day, dt.time()) + dt.timedelta(microseconds=micros)
        if t == 0x2A:
            return value
        offset = struct.unpack("<h", raw[tlen + 3:tlen + 5])[0]
        return value.replace(tzinfo=dt.timezone.utc).astimezone(dt.timezone(dt.timedelta(minutes=offset)))
    if t in (0xA7, 0xAF, 0xE7, 0xEF, 0xA5, 0xAD):
        size = r.u16()
        if t in (0xA7, 0xAF, 0xE7, 0xEF):
            r.take(5)  # collation
        raw = _plp(r) if size == 0xFFFF else _ushort_value(r)
        if raw is None:
            return None
        if t in (0xA7, 0xAF):
            return raw.decode("cp1252", "replace")
        if t in (0xE7, 0xEF):
            return raw.decode("utf-16-le")
        return raw
    if t in (0x23, 0x63, 0x22):
        r.u32()
        if t != 0x22:
            r.take(5)
        n = r.u32()
        if n == 0xFFFFFFFF:
            return None
        raw = r.take(n)
        return raw if t == 0x22 else raw.decode("utf-16-le" if t == 0x63 else "cp1252", "replace")
    if t == 0xF1:
        if r.u8():
            for _ in range(2):
                r.take(r.u8() * 2)
            r.take(r.u16() * 2)
        raw = _plp(r)
        return None if raw is None else raw.decode("utf-16-le")
    raise MssqlError(8016, f"The incoming tabular data stream (TDS) remote procedure call (RPC) protocol stream is "
                           f"incorrect. Parameter has an invalid data type (0x{t:02X}).")


def _ushort_value(r: _Reader) -> bytes | None:
    n = r.u16()
    return None if n == 0xFFFF else r.take(n)


def _decode_fixed(t: int, raw: bytes):
    if t == 0x1F:
        return None
    if t in (0x30,):
        return raw[0]
    if t in (0x34, 0x38, 0x7F):
        return int.from_bytes(raw, "little", signed=True)
    if t == 0x32:
        return raw[0] != 0
    if t == 0x3B:
        return struct.unpack("<f", raw)[0]
    if t == 0x3E:
        return struct.unpack("<d", raw)[0]
    if t == 0x3C:
        hi, lo = struct.unpack("<iI", raw)
        return decimal.Decimal((hi << 32) | lo) / 10000
    if t == 0x7A:
        return decimal.Decimal(struct.unpack("<i", raw)[0]) / 10000
    if t == 0x3D:
        days, ticks = struct.unpack("<iI", raw)
        return dt.datetime(1900, 1, 1) + dt.timedelta(days=days, microseconds=round(ticks * 10000 / 3))
    days, minutes = struct.unpack("<HH", raw)
    return dt.datetime(1900, 1, 1) + dt.timedelta(days=days, minutes=minutes)


def parse_rpc(payload: bytes) -> tuple[str, list[tuple[str, int, object]]]:
    """(procedure name, [(parameter name, status flags, value)]) of the first RPC in a request."""
    r = _Reader(payload)
    total = struct.unpack("<I", payload[:4])[0]
    r.pos = total
    name_len = r.u16()
    if name_len == 0xFFFF:
        proc = PROC_NAMES.get(r.u16(), "unknown")
    else:
        proc = r.take(name_len * 2).decode("utf-16-le")
    r.u16()  # option flags
    params = []
    while not r.done:
        if r.data[r.pos] in (0xFF, 0x80) and r.pos + 1 >= len(r.data):
            break
        name = r.take(r.u8() * 2).decode("utf-16-le")
        status = r.u8()
        params.append((name, status, read_param_value(r)))
    return proc, params


def param_names(definitions: str | None) -> list[str]:
    """`@P0 nvarchar(4000),@P1 int` -> ['@P0', '@P1']."""
    if not definitions:
        return []
    import re

    return re.findall(r"(@[A-Za-z0-9_]+)\s+[A-Za-z]", definitions)


# --- the connection -----------------------------------------------------------------------------
class Connection:
    def __init__(self, sock: socket.socket, server: "TdsServer"):
        self.sock = sock
        self.server = server
        self.packet_size = 4096
        self.tls: ssl.SSLObject | None = None
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.buffer = b""
        self.session: Session | None = None
        self.prepared: dict[int, tuple[str, str]] = {}
        self.next_handle = 1
        self.user = ""

    # --- raw I/O -----------------------------------------------------------------------------
    def _recv_raw(self, n: int = 65536) -> bytes:
        data = self.sock.recv(n)
        if not data:
            raise ClientGone()
        return data

    def _send_raw(self, data: bytes) -> None:
        if self.tls is not None:
            self.tls.write(data)
            data = self.outgoing.read()
        self.sock.sendall(data)

    def _fill(self) -> None:
        if self.tls is None:
            self.buffer += self._recv_raw()
            return
        while True:
            try:
                self.buffer += self.tls.read(65536)
                return
            except ssl.SSLWantReadError:
                self.incoming.write(self._recv_raw())

    def read_message(self) -> tuple[int, bytes]:
        payload, kind = b"", None
        while True:
            while len(self.buffer) < 8:
                self._fill()
            kind_byte, status, length = self.buffer[0], self.buffer[1], struct.unpack(">H", self.buffer[2:4])[0]
            while len(self.buffer) < length:
                self._fill()
            payload += self.buffer[8:length]
            self.buffer = self.buffer[length:]
            kind = kind_byte
            if status & 0x01:
                return kind, payload

    def send_message(self, kind: int, payload: bytes) -> None:
        body = self.packet_size - 8
        chunks = [payload[i:i + body] for i in range(0, len(payload), body)] or [b""]
        out = bytearray()
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            out += struct.pack(">BBHHBB", kind, 1 if last else 0, len(chunk) + 8, 0, (i + 1) % 256, 0) + chunk
        self._send_raw(bytes(out))

    def attention_pending(self) -> bool:
        if self.buffer[:1] == bytes([PT_ATTENTION]):
            return True
        ready, _, _ = select.select([self.sock], [], [], 0)
        if not ready:
            return False
        try:
            self._fill()
        except ClientGone:
            raise
        return self.buffer[:1] == bytes([PT_ATTENTION])

    # --- the exchange -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            kind, payload = self.read_message()
            if kind != PT_PRELOGIN:
                return
            self._prelogin(payload)
            kind, payload = self.read_message()
            if kind != PT_LOGIN7 or not self._login(payload):
                return
            while True:
                kind, payload = self.read_message()
                if kind == PT_SQL_BATCH:
                    headers = struct.unpack("<I", payload[:4])[0] if len(payload) >= 4 else 0
                    sql = payload[headers:].decode("utf-16-le", "replace")
                    self._respond(self.session.execute(sql), rpc=False)
                elif kind == PT_RPC:
                    self._rpc(payload)
                elif kind == PT_ATTENTION:
                    self.send_message(PT_TABULAR, _done(TOKEN_DONE, DoneStatus.ATTENTION))
                elif kind == PT_TRANSACTION:
                    self._respond(self._transaction_request(payload), rpc=False)
                else:
                    self.send_message(PT_TABULAR, error(8009, "Unsupported TDS message type.", server=SERVER_NAME)
                                      + _done(TOKEN_DONE, DoneStatus.ERROR))
        except (ClientGone, ConnectionError, ssl.SSLError, OSError):
            pass
        except ConnectionDropped:
            log.info("fault injection: dropping the connection mid-result")
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        finally:
            if self.session is not None:
                self.session.close()

    def _transaction_request(self, payload: bytes):
        """A Transaction Manager request ([MS-TDS] 2.2.6.9): begin, commit or rollback, as drivers
        (python-tds, mssql-jdbc) send them instead of T-SQL when autocommit is off."""
        headers = struct.unpack("<I", payload[:4])[0] if len(payload) >= 4 else 0
        r = _Reader(payload, headers)
        request = r.u16()
        levels = {1: "READ UNCOMMITTED", 2: "READ COMMITTED", 3: "REPEATABLE READ", 4: "SERIALIZABLE", 5: "SNAPSHOT"}
        if request == 5:  # TM_BEGIN_XACT
            level = r.u8()
            if level in levels:
                self.session.isolation = levels[level]
            yield from self.session.execute("BEGIN TRANSACTION")
        elif request in (7, 8):  # TM_COMMIT_XACT, TM_ROLLBACK_XACT
            name_len = r.u8()
            r.take(name_len * 2)
            flags = r.u8() if not r.done else 0
            if self.session.trancount:
                yield from self.session.execute("COMMIT TRANSACTION" if request == 7 else "ROLLBACK TRANSACTION")
            if flags & 1:
                level = r.u8()
                if level in levels:
                    self.session.isolation = levels[level]
                yield from self.session.execute("BEGIN TRANSACTION")
        else:
            raise MssqlError(50000, f"not supported by the stand-in: transaction manager request {request}")

    def _prelogin(self, payload: bytes) -> None:
        asked = Prelogin.parse(payload)
        wanted = asked.encryption
        use_tls = wanted in (Encryption.ON, Encryption.REQUIRED) and self.server.tls_context is not None
        answer = server_response(version=Version(*SERVER_VERSION, 0),
                                 encryption=Encryption.ON if use_tls else Encryption.NOT_SUPPORTED, asked=asked)
        self.send_message(PT_TABULAR, answer.build())
        if use_tls:
            self._tls_handshake()

    def _tls_handshake(self) -> None:
        """TLS for the whole session, its handshake records carried in PRELOGIN packets ([MS-TDS] 3.3.4.1)."""
        tls = self.server.tls_context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = self.outgoing.read()
                if pending:
                    self.send_message(PT_PRELOGIN, pending)
                kind, payload = self.read_message()
                self.incoming.write(payload)
        pending = self.outgoing.read()
        if pending:
            self.send_message(PT_PRELOGIN, pending)
        self.tls = tls

    def _login(self, payload: bytes) -> bool:
        login = Login7.parse(payload)
        self.user = login.user_name
        password = deobfuscate_password(login.password) if login.password else ""
        tds_version = negotiate(login.tds_version)
        if login.user_name != self.server.user or password != self.server.password:
            self.send_message(PT_TABULAR, error(18456, f"Login failed for user '{login.user_name}'.", severity=14,
                                                state=1, server=SERVER_NAME) + _done(TOKEN_DONE, DoneStatus.ERROR))
            return False
        database = login.database or "master"
        resolved = self.server.engine.resolve_database(database)
        if resolved is None:
            self.send_message(PT_TABULAR, error(4060, f'Cannot open database "{database}" requested by the login. '
                                                      "The login failed.", severity=11, state=1, server=SERVER_NAME)
                              + error(18456, f"Login failed for user '{login.user_name}'.", severity=14, state=1,
                                      server=SERVER_NAME) + _done(TOKEN_DONE, DoneStatus.ERROR))
            return False
        self.packet_size = max(512, min(login.packet_size or 4096, 32767))
        self.session = Session(self.server.engine, resolved, login.user_name)
        self.send_message(PT_TABULAR, login_response(version=SERVER_VERSION, server_name=SERVER_NAME,
                                                     database=resolved, packet_size=self.packet_size,
                                                     tds_version=tds_version))
        return True

    # --- results -------------------------------------------------------------------------------
    def _respond(self, results, *, rpc: bool, epilogue: bytes = b"") -> None:
        """Stream every result of a batch; DONE (or DONEINPROC in an RPC) after each."""
        writer = _Writer(self)
        done_token = TOKEN_DONEINPROC if rpc else TOKEN_DONE
        pending_done = None
        try:
            for result in results:
                if pending_done is not None:
                    writer.write(_done(done_token, pending_done[0] | DoneStatus.MORE, pending_done[1], pending_done[2]))
                for kind, new, old in result.envchange_tx:
                    writer.write(env_change(kind, new, old))
                if result.envchange_database:
                    writer.write(env_change(EnvChangeType.DATABASE, result.envchange_database, "master")
                                 + info(5701, f"Changed database context to '{result.envchange_database}'.", state=1,
                                        server=SERVER_NAME))
                if result.columns is not None:
                    count = writer.result_set(result.columns, result.batches)
                    pending_done = (DoneStatus.COUNT, result.command, count)
                elif result.has_count:
                    pending_done = (DoneStatus.COUNT, result.command, result.rowcount)
                else:
                    pending_done = (DoneStatus.FINAL, 0, 0)
            if rpc:
                if pending_done is not None:
                    writer.write(_done(done_token, pending_done[0] | DoneStatus.MORE, pending_done[1], pending_done[2]))
                writer.write(epilogue + _done(TOKEN_DONEPROC, DoneStatus.FINAL))
            else:
                final = pending_done or (DoneStatus.FINAL, 0, 0)
                writer.write(_done(TOKEN_DONE, final[0], final[1], final[2]))
        except Attention:
            # The packets already sent may end inside a token: end the current message with the
            # rest of what was written (whole tokens), then acknowledge in a message of its own.
            self.buffer = self.buffer[8:] if self.buffer[:1] == bytes([PT_ATTENTION]) else self.buffer
            writer.finish()
            self.send_message(PT_TABULAR, _done(TOKEN_DONE, DoneStatus.ATTENTION))
            return
        except ConnectionDropped:
            raise  # an injected network failure: no more bytes, the socket closes
        except MssqlError as exc:
            writer.write(error(exc.number, str(exc), severity=exc.severity, state=exc.state, server=SERVER_NAME)
                         + _done(TOKEN_DONEPROC if rpc else TOKEN_DONE, DoneStatus.ERROR))
        except Exception as exc:  # noqa: BLE001 - the server keeps serving; the client gets an error
            log.exception("internal error")
            writer.write(error(50000, f"Internal error in the SQL Server stand-in: {exc}", server=SERVER_NAME)
                         + _done(TOKEN_DONEPROC if rpc else TOKEN_DONE, DoneStatus.ERROR))
        writer.finish()

    def _rpc(self, payload: bytes) -> None:
        try:
            proc, params = parse_rpc(payload)
        except MssqlError as exc:
            self.send_message(PT_TABULAR, error(exc.number, str(exc), server=SERVER_NAME)
                              + _done(TOKEN_DONEPROC, DoneStatus.ERROR))
            return
        name = proc.lower().split(".")[-1]
        values = [p[2] for p in params]
        returnstatus = bytes([TOKEN_RETURNSTATUS]) + struct.pack("<i", 0)
        if name == "sp_executesql":
            sql = values[0] if values else ""
            bound = self._bind(values[1] if len(values) > 1 else None, params[2:])
            self._respond(self.session.execute(sql, bound), rpc=True, epilogue=returnstatus)
        elif name in ("sp_prepexec", "sp_prepare"):
            definitions, sql = values[1], values[2]
            handle = self.next_handle
            self.next_handle += 1
            self.prepared[handle] = (sql, definitions)
            ret = _return_value(params[0][0], handle)
            if name == "sp_prepare":
                self._respond(iter(()), rpc=True, epilogue=returnstatus + ret)
            else:
                bound = self._bind(definitions, params[3:])
                self._respond(self.session.execute(sql, bound), rpc=True, epilogue=returnstatus + ret)
        elif name == "sp_execute":
            handle = int(values[0])
            if handle not in self.prepared:
                self.send_message(PT_TABULAR, error(8179, f"Could not find prepared statement with handle {handle}.",
                                                    server=SERVER_NAME) + _done(TOKEN_DONEPROC, DoneStatus.ERROR))
                return
            sql, definitions = self.prepared[handle]
            self._respond(self.session.execute(sql, self._bind(definitions, params[1:])), rpc=True,
                          epilogue=returnstatus)
        elif name == "sp_unprepare":
            self.prepared.pop(int(values[0]) if values else -1, None)
            self._respond(iter(()), rpc=True, epilogue=returnstatus)
        else:
            # A stored procedure called by name: run it as EXEC with its arguments as literals.
            from mssql_starrocks_devservers.mssql.engine import tsql_literal

            args = ", ".join((f"{n} = " if n else "") + tsql_literal(v) for n, _, v in params)
            self._respond(self.session.execute(f"EXEC {proc} {args}"), rpc=True, epilogue=returnstatus)

    @staticmethod
    def _bind(definitions, params) -> dict:
        names = param_names(definitions)
        bound = {}
        for i, (name, _status, value) in enumerate(params):
            key = name or (names[i] if i < len(names) else f"@P{i}")
            bound[key] = value
        return bound


class _Writer:
    """Packs tokens into packets of the negotiated size and sends each as soon as it is full."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.buf = bytearray()
        self.packet_id = 1
        self.sent_any = False

    def write(self, data: bytes) -> None:
        self.buf += data
        body = self.conn.packet_size - 8
        while len(self.buf) > body:
            chunk = bytes(self.buf[:body])
            del self.buf[:body]
            self._send(chunk, last=False)

    def _send(self, chunk: bytes, last: bool, check_attention: bool = True) -> None:
        header = struct.pack(">BBHHBB", PT_TABULAR, 1 if last else 0, len(chunk) + 8, 0, self.packet_id % 256, 0)
        self.packet_id += 1
        self.conn._send_raw(header + chunk)
        self.sent_any = True
        if not last and check_attention and self.conn.attention_pending():
            raise Attention()

    def finish(self) -> None:
        body = self.conn.packet_size - 8
        while len(self.buf) > body:
            chunk = bytes(self.buf[:body])
            del self.buf[:body]
            self._send(chunk, last=False, check_attention=False)
        self._send(bytes(self.buf), last=True)
        self.buf = bytearray()

    def result_set(self, columns, batches) -> int:
        meta = bytearray([TOKEN_COLMETADATA]) + struct.pack("<H", len(columns))
        for name, sql_type in columns:
            flags = 0x0009  # nullable, updateable-unknown
            meta += struct.pack("<IH", sql_type.user_type, flags) + sql_type.type_info()
            meta += bytes([len(name)]) + name.encode("utf-16-le")
        self.write(bytes(meta))
        encoders = [t.encoder() for _, t in columns]
        count = 0
        row_token = bytes([TOKEN_ROW])
        for batch in batches:
            out = bytearray()
            for row in batch:
                out += row_token
                for encode, value in zip(encoders, row):
                    out += encode(value)
            count += len(batch)
            self.write(bytes(out))
        return count


def _done(token: int, status: int, command: int = 0, count: int = 0) -> bytes:
    return bytes([token]) + struct.pack("<HHQ", status, command, count)


def _return_value(name: str, value: int) -> bytes:
    encoded = (name or "@handle")
    return (bytes([TOKEN_RETURNVALUE]) + struct.pack("<H", 0) + bytes([len(encoded)]) + encoded.encode("utf-16-le")
            + bytes([0x01]) + struct.pack("<IH", 0, 0) + bytes([0x26, 4]) + bytes([4]) + struct.pack("<i", value))


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Connection(self.request, self.server).run()


class TdsServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address, engine: Server, user: str, password: str, tls_context: ssl.SSLContext | None):
        self.engine = engine
        self.user = user
        self.password = password
        self.tls_context = tls_context
        super().__init__(address, _Handler)


def serve_in_thread(server: TdsServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


