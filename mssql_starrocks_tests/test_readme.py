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
