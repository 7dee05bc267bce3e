"""Target names: SQL Server identifiers mapped to Glue-safe names, deterministically.

AWS Glue wants lowercase names of letters, digits and underscores, and Iceberg/StarRocks names
are kept identical to the Glue ones so a column is called the same on every layer. The mapping
is: Unicode NFKD with accents dropped (`naïve` -> `naive`), lowercase, every run of other
characters -> one `_` (a non-Latin letter becomes `u<hex>` so that CJK names stay distinct),
leading/trailing `_` trimmed, and a leading digit prefixed with `c_`. Two source names that
land on the same target name are an error naming both; nothing is renamed silently.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 128  # Glue's limit for table and column names is 255; StarRocks' column limit is lower


class NameCollisionError(ValueError):
    pass


def to_target_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    out: list[str] = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        low = ch.lower()
        if "a" <= low <= "z" or "0" <= low <= "9":
            out.append(low)
        elif ch.isalnum():
            out.append(f"_u{ord(ch):x}_")
        else:
            out.append("_")
    mapped = re.sub(r"_+", "_", "".join(out)).strip("_")
    if not mapped:
        mapped = "c_" + "_".join(f"{ord(c):x}" for c in name) if name else "c_"
    if mapped[0].isdigit():
        mapped = "c_" + mapped
    return mapped[:MAX_NAME]


def map_names(names: list[str], *, what: str) -> dict[str, str]:
    """source name -> target name for `names`; raises NameCollisionError naming both sources.

    Mapped names never start with `_`, so they cannot collide with the audit columns.
    """
    seen: dict[str, str] = {}
    result: dict[str, str] = {}
    for name in names:
        target = to_target_name(name)
        if target in seen:
            raise NameCollisionError(
                f"{what}: columns [{seen[target]}] and [{name}] both map to '{target}' "
                "(names are lowercased and made Glue-safe); rename one or set a column alias in the tables file"
            )
        seen[target] = name
        result[name] = target
    return result


def quote_tsql(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def tsql_escape(text: str) -> str:
    """Text for inside a T-SQL string literal ('...')."""
    return text.replace("'", "''")


def backslash_escape(text: str) -> str:
    """Text for inside a Spark SQL or StarRocks string literal ('...'), where backslash escapes."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def quote_backtick(name: str) -> str:
    """An identifier quoted for Spark SQL and for StarRocks (both quote with backticks)."""
    return "`" + name.replace("`", "``") + "`"
