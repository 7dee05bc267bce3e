"""Every `mssql-starrocks` command with bad input ends in one block, as a user runs it (a
subprocess, no terminal): what failed, why, what to do, and the log file holding the details;
a non-zero exit; no traceback unless --verbose. No servers are needed: "unreachable" is a closed
port on this machine."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from mssql_starrocks_tests import e2e

pytestmark = pytest.mark.integration  # subprocesses

GOOD_TABLES = """version: 1
database: d
tables:
  - schema: dbo
    name: t
    key_columns: [id]
    starrocks: {model: primary_key}
    columns:
      - {name: id, type: int, nullable: false}
      - {name: name, type: nvarchar, max_length: 50, nullable: true}
"""
BAD_TABLES = GOOD_TABLES.replace("    key_columns: [id]\n", "    key_columns: [id]\n    load_mode: sometimes\n")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unreachable(tmp_path: Path) -> dict[str, str]:
    """Settings complete and well formed, every server on a closed port."""
    port = str(_closed_port())
    return {"MSSQL_HOST": "127.0.0.1", "MSSQL_PORT": port, "MSSQL_DATABASE": "d", "MSSQL_USER": "sa",
            "MSSQL_PASSWORD": "Secret-1", "MSSQL_ENCRYPT": "false", "STARROCKS_HOST": "127.0.0.1",
            "STARROCKS_QUERY_PORT": port, "STARROCKS_HTTP_PORT": port, "STARROCKS_USER": "root",
            "STARROCKS_PASSWORD": "Secret-2", "ICEBERG_CATALOG_TYPE": "local",
            "ICEBERG_LOCAL_DIR": str(tmp_path / "iceberg")}


def cli(args: list[str], tmp_path: Path, env: dict[str, str] | None = None, tables: str | None = None):
    """The CLI in a fresh directory (no .env), with only `env` for settings."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("MSSQL_", "STARROCKS_", "ICEBERG_", "AWS_", "SPARK_", "GLUE_", "DAGSTER_"))}
    if tables is not None:
        (tmp_path / "tables.yaml").write_text(tables)
    return subprocess.run([e2e.python_bin("mssql-starrocks"), *args], cwd=tmp_path,
                          env={**base, "DAGSTER_HOME": str(tmp_path / "home"), **(env or {})},
                          capture_output=True, text=True, timeout=300)


def block(done, command: str, verb: str = "failed") -> dict[str, str]:
    """The closing block of stderr as {label: text}; it is the last thing the command printed."""
    lines = done.stderr.rstrip().splitlines()
    head = max(i for i, line in enumerate(lines) if line.startswith(f"mssql-starrocks {command} {verb}"))
    fields: dict[str, str] = {}
    label = ""
    for line in lines[head + 1:]:
        m = re.match(r"^  ([a-z ]+):\s+(.*)$", line)
        if m:
            label = m.group(1)
            fields[label] = m.group(2)
        else:
            fields[label] += "\n" + line.strip()
    assert {"what failed", "why", "what to do"} <= set(fields), done.stderr
    return fields


# (args, settings, tables file, exit code, verb, what failed, why, what to do); "{port}" is the closed port
CASES = {
    "check without settings": (["check"], None, None, 1, "failed", "settings (.env or the environment)",
                               "missing environment variable(s): MSSQL_HOST, MSSQL_USER, MSSQL_PASSWORD, "
                               "STARROCKS_HOST, STARROCKS_USER, STARROCKS_PASSWORD", "see .env.example"),
    "discover without settings": (["discover"], None, None, 1, "failed", "settings (.env or the environment)",
                                  "missing environment variable(s): MSSQL_HOST, MSSQL_USER, MSSQL_PASSWORD",
                                  "see .env.example"),
    "run without settings": (["run"], None, GOOD_TABLES, 1, "failed", "settings (.env or the environment)",
                             "missing environment variable(s): MSSQL_HOST", "see .env.example"),
    "verify without settings": (["verify"], None, GOOD_TABLES, 2, "could not run", "settings (.env or the environment)",
                                "missing environment variable(s): MSSQL_HOST", "see .env.example"),
    "plan without a tables file": (["plan", "dbo.t"], None, None, 1, "failed", "tables file tables.yaml",
                                   "tables.yaml: tables file not found", "write one with `mssql-starrocks discover`"),
    "plan with a bad tables file": (["plan", "dbo.t"], None, BAD_TABLES, 1, "failed",
                                    "tables file tables.yaml, table dbo.t, field load_mode",
                                    "tables.yaml: table dbo.t: load_mode: Input should be 'full', 'incremental' or "
                                    "'change_tracking'", "correct the tables file"),
    "plan of a table not in the file": (["plan", "dbo.nope"], None, GOOD_TABLES, 1, "failed", "table dbo.nope",
                                        "dbo.nope is not in the tables file tables.yaml (tables: dbo.t)",
                                        "mssql-starrocks discover --force"),
    "run with a bad tables file": (["run"], "unreachable", BAD_TABLES, 1, "failed",
                                   "tables file tables.yaml, table dbo.t, field load_mode",
                                   "load_mode: Input should be", "correct the tables file"),
    "run with an unknown selection": (["run", "--select", "raw/d/dbo/nope*"], "unreachable", GOOD_TABLES, 1,
                                      "failed", "--select 'raw/d/dbo/nope*'",
                                      "no asset has the key(s) ['raw/d/dbo/nope']", "--select 'raw/d/dbo/t*'"),
    "run with a selection matching nothing": (["run", "--select", "group:nope"], "unreachable", GOOD_TABLES, 1,
                                              "failed", "--select 'group:nope'", "it matches no asset",
                                              "--select 'raw/d/dbo/t*'"),
    "run with a local catalog on S3": (["run"], {"ICEBERG_WAREHOUSE": "s3://bucket/iceberg"}, GOOD_TABLES, 1,
                                       "failed", "setting ICEBERG_CATALOG_TYPE",
                                       "ICEBERG_CATALOG_TYPE=local cannot use the S3 warehouse", "correct it in .env"),
    "discover with SQL Server unreachable": (["discover"], "unreachable", None, 1, "failed",
                                             "SQL Server (mssql://127.0.0.1:{port}/d)",
                                             "cannot connect to mssql://127.0.0.1:{port}/d as sa: error 20009: "
                                             "Unable to connect", "start SQL Server or correct MSSQL_HOST / MSSQL_PORT"),
    "plan --live with SQL Server unreachable": (["plan", "dbo.t", "--live"], "unreachable", GOOD_TABLES, 1, "failed",
                                                "SQL Server (mssql://127.0.0.1:{port}/d)", "Connection refused",
                                                "start SQL Server or correct MSSQL_HOST / MSSQL_PORT"),
    "check with every server unreachable": (["check"], "unreachable", None, 1, "failed",
                                            "3 of the connections above (the FAIL line(s))", "each FAIL line says why",
                                            "correct the settings the FAIL line(s) name"),
    "verify with every server unreachable": (["verify"], "unreachable", GOOD_TABLES, 2, "could not run", "SQL Server",
                                             "SQL Server unreachable: ", "start SQL Server or correct MSSQL_HOST"),
    "an env file that is not there": (["--env-file", "nope.env", "check"], None, None, 1, "failed",
                                      "--env-file nope.env", "the file does not exist", "leave --env-file out"),
    "demo whose stand-ins cannot start": (["demo", "--state-dir", "/dev/null/state"], None, None, 1, "failed",
                                          "demo step: starting the stand-in servers", "exit status 1: ",
                                          "read its output in the log file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_command_ends_bad_input_in_one_block_without_a_traceback(case, tmp_path):
    args, env, tables, code, verb, what, why, todo = CASES[case]
    settings = _unreachable(tmp_path) if env is not None else {}
    if isinstance(env, dict):
        settings.update(env)
    port = settings.get("MSSQL_PORT", "")
    done = cli(args, tmp_path, settings, tables)
    command = next(a for a in args if not a.startswith("-") and not a.endswith(".env"))
    assert done.returncode == code, done.stdout + done.stderr
    fields = block(done, command, verb)
    assert fields["what failed"] == what.format(port=port), fields
    assert why.format(port=port) in fields["why"], fields
    assert todo in fields["what to do"], fields
    assert "Traceback" not in done.stdout + done.stderr
    for secret in ("Secret-1", "Secret-2"):
        assert secret not in done.stdout + done.stderr
    if "details" in fields:  # the log file it names is there and holds the details
        log = tmp_path / fields["details"].split(" (add --verbose")[0]
        assert log.is_file() and log.stat().st_size > 0, fields["details"]
        for secret in ("Secret-1", "Secret-2"):
            assert secret not in log.read_text()


def test_the_traceback_is_in_the_log_file_and_on_the_terminal_with_verbose(tmp_path):
    """A failure the command did not expect itself (here a tables file Dagster's loader meets
    first): its traceback goes to the log file; --verbose shows it too, and still ends in the block."""
    done = cli(["run"], tmp_path, _unreachable(tmp_path), BAD_TABLES)
    fields = block(done, "run")
    log = tmp_path / fields["details"].split(" (add --verbose")[0]
    assert log.parent == tmp_path / "home" / "logs" and log.name.startswith("mssql-starrocks-")
    assert "Traceback (most recent call last)" in log.read_text()
    assert "Traceback" not in done.stderr

    verbose = cli(["--verbose", "run"], tmp_path, _unreachable(tmp_path), BAD_TABLES)
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    tail = verbose.stderr[verbose.stderr.index("Traceback (most recent call last)"):]
    assert "mssql-starrocks run failed" in tail and block(verbose, "run")["what failed"] == fields["what failed"]
    assert block(verbose, "run")["details"].endswith(".log")  # no "(add --verbose ...)" when it is on
