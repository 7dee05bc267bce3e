"""The README's type mapping table is the one the code implements."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_type_table_is_current():
    spec = importlib.util.spec_from_file_location("render_readme", ROOT / "scripts" / "render_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert module.rendered(text) == text, "README type table is stale: run .venv/bin/python scripts/render_readme.py"
    assert "| DATETIME2(n) | timestamp | DATETIME |" in text


def test_readme_failure_table_names_real_tests_and_has_thirty_cases():
    """Every row of "When something is wrong" points at a test that exists."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- failures:start -->", 1)[1].split("<!-- failures:end -->", 1)[0]
    rows = [line for line in table.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) >= 30
    for row in rows:
        ref = re.search(r"`(test_\w+\.py)::(test_\w+)`", row)
        assert ref, f"row without a test: {row}"
        source = (ROOT / "mssql_starrocks_tests" / ref.group(1)).read_text(encoding="utf-8")
        assert f"def {ref.group(2)}(" in source, f"README names a missing test: {ref.group(0)}"
