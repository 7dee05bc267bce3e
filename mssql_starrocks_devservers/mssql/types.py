"""SQL Server column types: how they are declared, stored in DuckDB, and sent over TDS.

Every column keeps its declared SQL Server type; COLMETADATA is driven by it (TDS type codes,
lengths, precision, scale, collation as [MS-TDS] 2.2.5.4 defines them) and values are encoded
as SQL Server encodes them, so mssql-jdbc and FreeTDS see exactly what a real server sends.

Storage in DuckDB: integers, DECIMAL(p,s), DOUBLE/FLOAT, BOOLEAN (bit), UTINYINT (tinyint is
unsigned), DATE, TIME and TIMESTAMP (microseconds: time(7)/datetime2(7) lose their 7th digit), TIMESTAMP
(datetime, rounded to 1/300 s on write as SQL Server does), a STRUCT(utc, offset) for
datetimeoffset, UUID, BLOB, VARCHAR for every character type, XML, sql_variant (as text) and
the CLR types (geography/geometry as WKT, hierarchyid as its path), BIGINT for rowversion.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import struct
import uuid
from dataclasses import dataclass

# SQL_Latin1_General_CP1_CI_AS, as a real server declares it for character columns.
COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])
MAX = -1
_WIDE = decimal.Context(prec=80)  # DECIMAL(38,s) needs more than Python's default 28 digits

_INT_WIDTH = {"tinyint": 1, "smallint": 2, "int": 4, "bigint": 8}
_DEC_BYTES = [(9, 5), (19, 9), (28, 13), (38, 17)]
_DAY0 = dt.date(1, 1, 1)
_DT1900 = dt.datetime(1900, 1, 1)
PLP_NULL = b"\xff" * 8
PLP_UNKNOWN = b"\xfe\xff\xff\xff\xff\xff\xff\xff"

CHAR_TYPES = ("char", "varchar", "nchar", "nvarchar", "text", "ntext")
UDT_TYPES = {"geography": (130, "Microsoft.SqlServer.Types.SqlGeography, Microsoft.SqlServer.Types, Version=11.0.0.0, "
                                 "Culture=neutral, PublicKeyToken=89845dcd8080cc91"),
             "geometry": (129, "Microsoft.SqlServer.Types.SqlGeometry, Microsoft.SqlServer.Types, Version=11.0.0.0, "
                               "Culture=neutral, PublicKeyToken=89845dcd8080cc91"),
             "hierarchyid": (128, "Microsoft.SqlServer.Types.SqlHierarchyId, Microsoft.SqlServer.Types, "
                                  "Version=11.0.0.0, Culture=neutral, PublicKeyToken=89845dcd8080cc91")}


class TypeError_(ValueError):
    pass


@dataclass(frozen=True)
class SqlType:
    name: str  # lower-case sys.types name
    length: int | None = None  # characters (n types: characters), bytes for binary; MAX = -1
    precision: int | None = None
    scale: int | None = None

    # --- declaration ----------------------------------------------------------------------
    def __str__(self) -> str:
        n = self.name.upper()
        if self.name in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
            return f"{n}({'MAX' if self.length == MAX else self.length})"
        if self.name in ("decimal", "numeric"):
            return f"{n}({self.precision},{self.scale})"
        if self.name in ("time", "datetime2", "datetimeoffset"):
            return f"{n}({self.scale})"
        if self.name == "float":
            return "FLOAT" if (self.precision or 53) > 24 else "REAL"
        return n

    @property
    def is_max(self) -> bool:
        return self.length == MAX or self.name in ("xml", "text", "ntext", "image", "sql_variant") \
            or self.name in UDT_TYPES

    @property
    def max_length_bytes(self) -> int:
        """sys.columns.max_length: bytes, -1 for MAX."""
        n = self.name
        if self.is_max and n not in UDT_TYPES:
            return -1 if n not in ("text", "ntext", "image", "sql_variant") else {"text": 16, "ntext": 16, "image": 16,
                                                                                "sql_variant": 8016}[n]
        if n in UDT_TYPES:
            return 892 if n == "hierarchyid" else -1
        if n in ("nchar", "nvarchar"):
            return self.length * 2
        if n in ("char", "varchar", "binary", "varbinary"):
            return self.length
        return {"bit": 1, "tinyint": 1, "smallint": 2, "int": 4, "bigint": 8, "real": 4, "float": 8, "money": 8,
                "smallmoney": 4, "date": 3, "datetime": 8, "smalldatetime": 4, "uniqueidentifier": 16,
                "timestamp": 8, "time": _time_len(self.scale), "datetime2": _time_len(self.scale) + 3,
                "datetimeoffset": _time_len(self.scale) + 5,
                "decimal": _dec_len(self.precision), "numeric": _dec_len(self.precision)}.get(n, 0)

    @property
    def duckdb(self) -> str:
        n = self.name
        if n in ("decimal", "numeric"):
            return f"DECIMAL({self.precision},{self.scale})"
        return {
            "bit": "BOOLEAN", "tinyint": "UTINYINT", "smallint": "SMALLINT", "int": "INTEGER", "bigint": "BIGINT",
            "money": "DECIMAL(19,4)", "smallmoney": "DECIMAL(10,4)", "float": "DOUBLE", "real": "FLOAT",
            "date": "DATE", "time": "TIME", "datetime": "TIMESTAMP", "smalldatetime": "TIMESTAMP",
            "datetime2": "TIMESTAMP", "datetimeoffset": "STRUCT(utc TIMESTAMP, \"offset\" SMALLINT)",
            "uniqueidentifier": "UUID", "binary": "BLOB", "varbinary": "BLOB", "image": "BLOB",
            "timestamp": "BIGINT",
        }.get(n, "VARCHAR")

    # --- TDS --------------------------------------------------------------------------------
    def type_info(self) -> bytes:
        n = self.name
        if n in _INT_WIDTH:
            return bytes([0x26, _INT_WIDTH[n]])
        if n == "bit":
            return bytes([0x68, 1])
        if n == "float":
            return bytes([0x6D, 8 if (self.precision or 53) > 24 else 4])
        if n == "real":
            return bytes([0x6D, 4])
        if n in ("money", "smallmoney"):
            return bytes([0x6E, 8 if n == "money" else 4])
        if n in ("decimal", "numeric"):
            return bytes([0x6A if n == "decimal" else 0x6C, _dec_len(self.precision), self.precision, self.scale])
        if n == "date":
            return bytes([0x28])
        if n in ("time", "datetime2", "datetimeoffset"):
            return bytes([{"time": 0x29, "datetime2": 0x2A, "datetimeoffset": 0x2B}[n], self.scale])
        if n in ("datetime", "smalldatetime"):
            return bytes([0x6F, 8 if n == "datetime" else 4])
        if n == "uniqueidentifier":
            return bytes([0x24, 16])
        if n in ("varchar", "char"):
            size = 0xFFFF if self.length == MAX else self.length
            return bytes([0xA7 if n == "varchar" else 0xAF]) + struct.pack("<H", size) + COLLATION
        if n in ("nvarchar", "nchar"):
            size = 0xFFFF if self.length == MAX else self.length * 2
            return bytes([0xE7 if n == "nvarchar" else 0xEF]) + struct.pack("<H", size) + COLLATION
        if n in ("varbinary", "binary"):
            size = 0xFFFF if self.length == MAX else self.length
            return bytes([0xA5 if n == "varbinary" else 0xAD]) + struct.pack("<H", size)
        if n == "timestamp":
            return bytes([0xAD]) + struct.pack("<H", 8)
        if n == "xml":
            return bytes([0xF1, 0x00])
        if n == "sql_variant":
            return bytes([0x62]) + struct.pack("<I", 8016)
        if n in UDT_TYPES:
            return (bytes([0xF0]) + struct.pack("<H", 0xFFFF) + _b_varchar("master") + _b_varchar("sys")
                    + _b_varchar(n) + _us_varchar(UDT_TYPES[n][1]))
        if n in ("text", "ntext", "image"):
            # Sent as the MAX types the modern drivers read them as.
            return {"text": SqlType("varchar", MAX), "ntext": SqlType("nvarchar", MAX),
                    "image": SqlType("varbinary", MAX)}[n].type_info()
        raise TypeError_(f"no TDS encoding for {self}")

    @property
    def user_type(self) -> int:
        return 80 if self.name == "timestamp" else 0

    def encoder(self):
        """A function value -> bytes for this type's ROW data (NULL included)."""
        n = self.name
        if n in _INT_WIDTH:
            fmt = {1: "<B", 2: "<h", 4: "<i", 8: "<q"}[_INT_WIDTH[n]]
            width = _INT_WIDTH[n]
            head = bytes([width])
            return lambda v: b"\x00" if v is None else head + struct.pack(fmt, int(v))
        if n == "bit":
            return lambda v: b"\x00" if v is None else b"\x01" + (b"\x01" if v else b"\x00")
        if n == "real" or (n == "float" and (self.precision or 53) <= 24):
            return lambda v: b"\x00" if v is None else b"\x04" + struct.pack("<f", float(v))
        if n == "float":
            return lambda v: b"\x00" if v is None else b"\x08" + struct.pack("<d", float(v))
        if n == "money":
            def money(v):
                if v is None:
                    return b"\x00"
                units = int(_WIDE.multiply(decimal.Decimal(v), 10000).to_integral_value(rounding=decimal.ROUND_HALF_EVEN))
                raw = struct.pack("<q", units)
                return b"\x08" + raw[4:] + raw[:4]
            return money
        if n == "smallmoney":
            return lambda v: b"\x00" if v is None else b"\x04" + struct.pack(
                "<i", int(_WIDE.multiply(decimal.Decimal(v), 10000).to_integral_value(rounding=decimal.ROUND_HALF_EVEN)))
        if n in ("decimal", "numeric"):
            size = _dec_len(self.precision)
            scale = self.scale

            def dec(v):
                if v is None:
                    return b"\x00"
                d = decimal.Decimal(v).scaleb(scale, context=_WIDE)
                units = int(d.to_integral_value(rounding=decimal.ROUND_HALF_UP, context=_WIDE))
                return bytes([size, 1 if units >= 0 else 0]) + abs(units).to_bytes(size - 1, "little")
            return dec
        if n == "date":
            return lambda v: b"\x00" if v is None else b"\x03" + (_as_date(v) - _DAY0).days.to_bytes(3, "little")
        if n == "time":
            scale, tlen = self.scale, _time_len(self.scale)
            return lambda v: b"\x00" if v is None else bytes([tlen]) + _time_units(v, scale).to_bytes(tlen, "little")
        if n == "datetime2":
            scale, tlen = self.scale, _time_len(self.scale)

            def dt2(v):
                if v is None:
                    return b"\x00"
                days, nanos = _days_nanos(v)
                return (bytes([tlen + 3]) + (nanos // 10 ** (9 - scale)).to_bytes(tlen, "little")
                        + days.to_bytes(3, "little"))
            return dt2
        if n == "datetimeoffset":
            scale, tlen = self.scale, _time_len(self.scale)

            def dto(v):
                if v is None:
                    return b"\x00"
                utc, offset = _as_dto(v)
                days, nanos = _days_nanos(utc)
                return (bytes([tlen + 5]) + (nanos // 10 ** (9 - scale)).to_bytes(tlen, "little")
                        + days.to_bytes(3, "little") + struct.pack("<h", offset))
            return dto
        if n == "datetime":
            def dtm(v):
                if v is None:
                    return b"\x00"
                v = _as_datetime(v)
                days = (v.date() - _DT1900.date()).days
                ticks = round((v - dt.datetime.combine(v.date(), dt.time())).total_seconds() * 300)
                return b"\x08" + struct.pack("<iI", days, ticks)
            return dtm
        if n == "smalldatetime":
            def sdt(v):
                if v is None:
                    return b"\x00"
                v = _as_datetime(v)
                return b"\x04" + struct.pack("<HH", (v.date() - _DT1900.date()).days, v.hour * 60 + v.minute)
            return sdt
        if n == "uniqueidentifier":
            return lambda v: b"\x00" if v is None else b"\x10" + _as_uuid(v).bytes_le
        if n in ("varchar", "char", "text"):
            if self.is_max:
                return lambda v: PLP_NULL if v is None else _plp(str(v).encode("cp1252", "replace"))
            return lambda v: b"\xff\xff" if v is None else _us_bytes(str(v).encode("cp1252", "replace"))
        if n in ("nvarchar", "nchar", "ntext", "xml"):
            if self.is_max:
                return lambda v: PLP_NULL if v is None else _plp(str(v).encode("utf-16-le"))
            return lambda v: b"\xff\xff" if v is None else _us_bytes(str(v).encode("utf-16-le"))
        if n in ("varbinary", "binary", "image"):
            if self.is_max:
                return lambda v: PLP_NULL if v is None else _plp(bytes(v))
            return lambda v: b"\xff\xff" if v is None else _us_bytes(bytes(v))
        if n == "timestamp":
            return lambda v: b"\xff\xff" if v is None else b"\x08\x00" + int(v).to_bytes(8, "big", signed=False)
        if n == "sql_variant":
            def variant(v):
                if v is None:
                    return b"\x00\x00\x00\x00"
                data = str(v).encode("utf-16-le")
                body = bytes([0xE7, 7]) + COLLATION + struct.pack("<H", 8000) + data
                return struct.pack("<I", len(body)) + body
            return variant
        if n in UDT_TYPES:
            return lambda v: PLP_NULL if v is None else _plp(_udt_bytes(n, v))
        raise TypeError_(f"no TDS encoding for {self}")


def _b_varchar(text: str) -> bytes:
    return bytes([len(text)]) + text.encode("utf-16-le")


def _us_varchar(text: str) -> bytes:
    return struct.pack("<H", len(text)) + text.encode("utf-16-le")


def _us_bytes(data: bytes) -> bytes:
    return struct.pack("<H", len(data)) + data


def _plp(data: bytes) -> bytes:
    if not data:
        return struct.pack("<Q", 0) + b"\x00\x00\x00\x00"
    chunks = [data[i:i + 8000] for i in range(0, len(data), 8000)]
    return struct.pack("<Q", len(data)) + b"".join(struct.pack("<I", len(c)) + c for c in chunks) + b"\x00\x00\x00\x00"


def _udt_bytes(name: str, value) -> bytes:
    # The stand-in keeps CLR values as text (WKT / the hierarchy path); clients that read the raw
    # UDT get that text's bytes, not SQL Server's serialisation (documented).
    return str(value).encode("utf-8")


def _dec_len(precision: int | None) -> int:
    p = precision or 18
    for limit, size in _DEC_BYTES:
        if p <= limit:
            return size
    return 17


def _time_len(scale: int | None) -> int:
    s = 7 if scale is None else scale
    return 3 if s <= 2 else 4 if s <= 4 else 5


def _time_units(value, scale: int) -> int:
    """Time of day in units of 10^-scale seconds (from a time or a datetime, ns precision)."""
    if isinstance(value, dt.datetime):
        value = value.time()
    nanos = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000_000 + value.microsecond * 1000
    extra = getattr(value, "nanosecond", 0)
    nanos += extra
    return nanos // (10 ** (9 - scale))


_EPOCH_DAYS = (dt.date(1970, 1, 1) - _DAY0).days


def _days_nanos(v) -> tuple[int, int]:
    """(days since 0001-01-01, nanoseconds of the day) from epoch nanoseconds or a datetime."""
    if isinstance(v, int):
        days, nanos = divmod(v, 86_400_000_000_000)
        return days + _EPOCH_DAYS, nanos
    v = _as_datetime(v)
    nanos = ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000_000 + v.microsecond * 1000
    return (v.date() - _DAY0).days, nanos


def _as_date(v) -> dt.date:
    if isinstance(v, int):
        return _as_datetime(v).date()
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return dt.date.fromisoformat(str(v)[:10])


def _as_datetime(v) -> dt.datetime:
    if isinstance(v, int):  # epoch nanoseconds
        days, nanos = _days_nanos(v)
        return dt.datetime.combine(_DAY0 + dt.timedelta(days=days), dt.time()) + dt.timedelta(microseconds=nanos // 1000)
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None) if v.tzinfo else v
    if hasattr(v, "to_pydatetime"):
        return v.to_pydatetime()
    if isinstance(v, dt.date):
        return dt.datetime.combine(v, dt.time())
    return dt.datetime.fromisoformat(str(v))


def _as_dto(v):
    if isinstance(v, dict):
        return v["utc"], int(v["offset"])
    if isinstance(v, (tuple, list)):
        return v[0], int(v[1])
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        offset = int(v.utcoffset().total_seconds() // 60)
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None), offset
    return _as_datetime(v), 0


def _as_uuid(v) -> uuid.UUID:
    return v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))


_DECL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(\s*(MAX|\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$", re.I)
_ALIASES = {"rowversion": "timestamp", "integer": "int", "dec": "decimal", "character": "char",
            "double precision": "float", "national char": "nchar"}


def parse(decl: str) -> SqlType:
    """A T-SQL type declaration, e.g. 'NVARCHAR(50)', 'DECIMAL(19,4)', 'DATETIME2', 'VARBINARY(MAX)'."""
    m = _DECL.match(decl)
    if not m:
        raise TypeError_(f"Column, parameter, or variable: cannot find data type {decl}.")
    name = _ALIASES.get(m.group(1).lower(), m.group(1).lower())
    a, b = m.group(2), m.group(3)
    if name in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
        if a is None:
            length = 1
        elif a.upper() == "MAX":
            if name in ("char", "nchar", "binary"):
                raise TypeError_(f"The size (MAX) given to the type '{name}' exceeds the maximum allowed.")
            length = MAX
        else:
            length = int(a)
            limit = 4000 if name.startswith("n") else 8000
            if not 1 <= length <= limit:
                raise TypeError_(f"The size ({length}) given to the type '{name}' exceeds the maximum allowed for "
                                 f"any data type ({limit}).")
        return SqlType(name, length=length)
    if name in ("decimal", "numeric"):
        p = int(a) if a else 18
        s = int(b) if b else 0
        if not (1 <= p <= 38 and 0 <= s <= p):
            raise TypeError_(f"The scale ({s}) for column must be within the range 0 to {p}.")
        return SqlType(name, precision=p, scale=s)
    if name in ("time", "datetime2", "datetimeoffset"):
        s = int(a) if a else 7
        if not 0 <= s <= 7:
            raise TypeError_(f"Specified scale {s} is invalid.")
        return SqlType(name, scale=s)
    if name == "float":
        n = int(a) if a else 53
        return SqlType("real" if n <= 24 else "float", precision=24 if n <= 24 else 53)
    if name == "real":
        return SqlType("real", precision=24)
    known = {"bit", "tinyint", "smallint", "int", "bigint", "money", "smallmoney", "date", "datetime",
             "smalldatetime", "uniqueidentifier", "xml", "timestamp", "sql_variant", "text", "ntext", "image",
             *UDT_TYPES}
    if name in known:
        return SqlType(name)
    raise TypeError_(f"Column, parameter, or variable #1: Cannot find data type {m.group(1)}.")
