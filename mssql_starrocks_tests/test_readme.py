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


def test_every_command_of_the_getting_started_steps_exists():
    """Each `mssql-starrocks` command, option and `make` target the README's walk-through names is real."""
    import re

    from mssql_starrocks.cli import main

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Using it on your own SQL Server and StarRocks", 1)[1].split("\n## ", 1)[0]
    section += text.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    uses = re.findall(r"mssql-starrocks ([a-z]+)((?: (?:--?[a-z-]+|'[^']*'|[\w./*]+))*)", section)
    assert {cmd for cmd, _ in uses} >= {"check", "discover", "plan", "run", "demo"}
    for cmd, args in uses:
        assert cmd in main.commands, f"README names a missing command: mssql-starrocks {cmd}"
        known = {o for p in main.commands[cmd].params for o in getattr(p, "opts", [])}
        for option in re.findall(r"(--?[a-z][a-z-]*)", args):
            assert option in known, f"README names a missing option: mssql-starrocks {cmd} {option}"
    for option in re.findall(r"`(--[a-z-]+)", section):  # options named on their own, e.g. `--live`
        assert any(option in {o for p in c.params for o in getattr(p, "opts", [])} for c in main.commands.values()), \
            option
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z]+):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z]+)`", section)) | set(re.findall(r"^make ([a-z]+)", section, re.M))
    assert named >= {"bootstrap", "demo", "test", "dagit"} and named <= targets, named - targets
    assert (ROOT / ".env.example").exists() and (ROOT / "scripts" / "bootstrap.sh").exists()
