"""Render the type mapping table from mssql_starrocks.mapping.typemap into README.md (between markers)."""

import re
from pathlib import Path

from mssql_starrocks.mapping.typemap import render_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def rendered(text: str) -> str:
    return re.sub(r"(<!-- typemap:start -->\n).*?(<!-- typemap:end -->)",
                  lambda m: m.group(1) + render_markdown() + "\n" + m.group(2), text, flags=re.S)


if __name__ == "__main__":
    README.write_text(rendered(README.read_text(encoding="utf-8")), encoding="utf-8")
