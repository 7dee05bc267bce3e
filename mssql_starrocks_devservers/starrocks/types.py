"""StarRocks column types as the stand-in enforces them (StarRocks 3.3 semantics).

VARCHAR(n)/CHAR(n) count UTF-8 BYTES (max 1048576; STRING = VARCHAR(65533)); TINYINT is signed;
LARGEINT is 128-bit; DATETIME keeps microseconds and spans 0000-01-01..9999-12-31; DECIMAL(p,s)
up to p = 38. `convert` turns a loaded text/JSON value into the stored value, or raises
ConversionError with the reason StarRocks would log for the rejected row.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass

MAX_VARCHAR = 1_048_576
STRING_LENGTH = 65_533


class ConversionError(ValueError):
    pass


@dataclass(frozen=True)
class SrType:
    name: str  # canonical upper-case base name
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        if self.name in ("VARCHAR", "CHAR", "VARBINARY"):
            return f"{self.name}({self.length})"
        if self.name == "DECIMAL":
            return f"DECIMAL({self.precision},{self.scale})"
        return self.name

    @property
    def column_type(self) -> str:
        """information_schema.columns.column_type, as StarRocks prints it."""
        n = self.name.lower()
        if self.name in ("VARCHAR", "CHAR", "VARBINARY"):
            return f"{n}({self.length})"
        if self.name == "DECIMAL":
            return f"decimal({self.precision},{self.scale})"
        return {"TINYINT": "tinyint(4)", "SMALLINT": "smallint(6)", "INT": "int(11)", "BIGINT": "bigint(20)",
                "LARGEINT": "largeint(40)", "BOOLEAN": "boolean"}.get(self.name, n)

    @property
    def data_type(self) -> str:
        return self.name.lower()

    @property
    def duckdb(self) -> str:
        return {
            "BOOLEAN": "BOOLEAN", "TINYINT": "TINYINT", "SMALLINT": "SMALLINT", "INT": "INTEGER",
            "BIGINT": "BIGINT", "LARGEINT": "HUGEINT", "FLOAT": "FLOAT", "DOUBLE": "DOUBLE",
            "DATE": "DATE", "DATETIME": "TIMESTAMP", "CHAR": "VARCHAR", "VARCHAR": "VARCHAR",
            "VARBINARY": "BLOB", "JSON": "VARCHAR",
        }.get(self.name) or f"DECIMAL({self.precision},{self.scale})"


_TYPE = re.compile(r"^\s*([A-Za-z]+)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")
_ALIASES = {"INTEGER": "INT", "BOOL": "BOOLEAN", "DECIMALV3": "DECIMAL", "DECIMAL32": "DECIMAL",
            "DECIMAL64": "DECIMAL", "DECIMAL128": "DECIMAL", "NUMERIC": "DECIMAL", "BINARY": "VARBINARY",
            "TEXT": "STRING", "REAL": "FLOAT"}
_INT_RANGES = {"TINYINT": (-(2**7), 2**7 - 1), "SMALLINT": (-(2**15), 2**15 - 1), "INT": (-(2**31), 2**31 - 1),
               "BIGINT": (-(2**63), 2**63 - 1), "LARGEINT": (-(2**127), 2**127 - 1)}


def parse_type(text: str) -> SrType:
    m = _TYPE.match(text)
    if not m:
        raise ValueError(f"Unknown type: {text}")
    name = _ALIASES.get(m.group(1).upper(), m.group(1).upper())
    a = int(m.group(2)) if m.group(2) else None
    b = int(m.group(3)) if m.group(3) else None
    if name == "STRING":
        return SrType("VARCHAR", STRING_LENGTH)
    if name in ("VARCHAR", "VARBINARY"):
        length = a if a is not None else (MAX_VARCHAR if name == "VARBINARY" else 1)
        if not 1 <= length <= MAX_VARCHAR:
            raise ValueError(f"{name} length must be between 1 and {MAX_VARCHAR}, got {length}")
        return SrType(name, length)
    if name == "CHAR":
        length = a if a is not None else 1
        if not 1 <= length <= 255:
            raise ValueError(f"CHAR length must be between 1 and 255, got {length}")
        return SrType(name, length)
    if name == "DECIMAL":
        p = a if a is not None else 10
        s = b if b is not None else 0
        if not (1 <= p <= 38 and 0 <= s <= p):
            raise ValueError(f"Invalid decimal type: DECIMAL({p},{s}); precision 1..38, 0 <= scale <= precision")
        return SrType("DECIMAL", precision=p, scale=s)
    if name in _INT_RANGES or name in ("BOOLEAN", "FLOAT", "DOUBLE", "DATE", "DATETIME", "JSON"):
        return SrType(name)
    raise ValueError(f"Unknown type: {text}")


_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?$")


def convert(value, t: SrType):
    """A loaded value (text from CSV, or a JSON value) as stored for type `t`."""
    if value is None:
        return None
    name = t.name
    if name in ("VARCHAR", "CHAR", "JSON"):
        text = value if isinstance(value, str) else _json_text(value)
        if name == "JSON":
            if isinstance(value, str):
                import json

                try:
                    json.loads(value)
                except ValueError:
                    raise ConversionError(f"Failed to parse json: '{value[:100]}'") from None
            return text
        if len(text.encode("utf-8")) > t.length:
            raise ConversionError(
                f"Value length beyond the limit. column type: {str(t).lower()}, value length: "
                f"{len(text.encode('utf-8'))} bytes"
            )
        return text
    if name == "VARBINARY":
        data = value if isinstance(value, (bytes, bytearray)) else str(value).encode("utf-8")
        if len(data) > t.length:
            raise ConversionError(f"Value length beyond the limit. column type: {str(t).lower()}, value length: "
                                  f"{len(data)} bytes")
        return bytes(data)
    if name == "BOOLEAN":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true"):
            return True
        if text in ("0", "false"):
            return False
        raise ConversionError(f"Invalid value for BOOLEAN: '{value}'")
    if name in _INT_RANGES:
        if isinstance(value, bool):
            number = int(value)
        elif isinstance(value, int):
            number = value
        else:
            text = str(value).strip()
            if not re.fullmatch(r"[+-]?\d+", text):
                raise ConversionError(f"Invalid value for {name.lower()}: '{value}'")
            number = int(text)
        low, high = _INT_RANGES[name]
        if not low <= number <= high:
            raise ConversionError(f"Value '{value}' is out of range for {name.lower()}")
        return number
    if name in ("FLOAT", "DOUBLE"):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConversionError(f"Invalid value for {name.lower()}: '{value}'") from None
    if name == "DECIMAL":
        try:
            number = decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise ConversionError(f"Invalid value for {str(t).lower()}: '{value}'") from None
        if not number.is_finite():
            raise ConversionError(f"Invalid value for {str(t).lower()}: '{value}'")
        wide = decimal.Context(prec=80)  # DECIMAL(38,s) needs more than Python's default 28 digits
        quantum = decimal.Decimal(1).scaleb(-t.scale)
        rounded = number.quantize(quantum, rounding=decimal.ROUND_HALF_UP, context=wide)
        if wide.abs(rounded) >= wide.power(10, t.precision - t.scale):
            raise ConversionError(f"Value '{value}' is out of range for {str(t).lower()}")
        return rounded
    if name == "DATE":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        m = _DATETIME.match(str(value).strip())
        if not m:
            raise ConversionError(f"Invalid value for date: '{value}'")
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            raise ConversionError(f"Invalid value for date: '{value}'") from None
    if name == "DATETIME":
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=None)
        m = _DATETIME.match(str(value).strip())
        if not m:
            raise ConversionError(f"Invalid value for datetime: '{value}'")
        frac = (m.group(7) or "0")[:6].ljust(6, "0")
        try:
            return dt.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4) or 0),
                               int(m.group(5) or 0), int(m.group(6) or 0), int(frac))
        except ValueError:
            raise ConversionError(f"Invalid value for datetime: '{value}'") from None
    raise ConversionError(f"Unsupported type {t}")


def _json_text(value) -> str:
    import json

    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
