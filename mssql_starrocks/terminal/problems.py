"""Every failure of a command as one block: what failed, why (one line), what to do, and where
the details are.

    mssql-starrocks run failed
      what failed: demo.dbo.customers, step extract
      why:         mssql://host:1433/demo: Login failed for user 'reader' ... [extract; auth: not retried]
      what to do:  correct MSSQL_USER / MSSQL_PASSWORD (.env), then `mssql-starrocks check`
      details:     .local/logs/mssql-starrocks-...-run.log (add --verbose to see them here)

`Problem` is the block's content; `CommandFailed` carries it out of a command (click prints it
and exits with its code); `of_exception` turns an exception nobody caught into a Problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import click

from mssql_starrocks.lib import failures

CHECK = "then run `mssql-starrocks check`"


@dataclass(frozen=True)
class Problem:
    what: str            # what failed: a table and step, a file and field, a setting, a server
    why: str             # the reason, one line per problem
    todo: str            # what to do about it
    verb: str = "failed"  # "failed", "could not run", "was stopped"

    def lines(self, command: str, log_path: str | None, verbose: bool = False) -> list[str]:
        out = [f"mssql-starrocks {command} {self.verb}".rstrip()]
        why = [w for w in self.why.splitlines() if w.strip()] or ["(no message)"]
        rows = [("what failed", self.what), ("why", why[0]), *(("", w) for w in why[1:]), ("what to do", self.todo)]
        if log_path:
            rows.append(("details", log_path + ("" if verbose else " (add --verbose to see them here)")))
        out += [f"  {(label + ':') if label else '':<12} {text}" for label, text in rows]
        return out


@dataclass
class Problems:
    """Several failures of one command (e.g. one run's failed steps and checks): one block."""

    items: list[Problem] = field(default_factory=list)
    verb: str = "failed"

    def lines(self, command: str, log_path: str | None, verbose: bool = False) -> list[str]:
        if len(self.items) == 1:
            return Problem(**{**self.items[0].__dict__, "verb": self.verb}).lines(command, log_path, verbose)
        out = [f"mssql-starrocks {command} {self.verb}: {len(self.items)} problems"]
        for p in self.items:
            out += [f"  {line}" for line in p.lines("", None)[1:]]
            out.append("")
        if log_path:
            out.append(f"  details: {log_path}" + ("" if verbose else " (add --verbose to see them here)"))
        return out


class CommandFailed(click.ClickException):
    """A command's failure: click prints the block (to stderr) and exits with `exit_code`."""

    def __init__(self, problem: Problem | Problems, exit_code: int = 1):
        super().__init__(problem.lines("", None)[0])
        self.problem = problem
        self.exit_code = exit_code
        self.command = ""
        self.log_path: str | None = None
        self.verbose = False

    def show(self, file=None) -> None:  # click calls this
        from mssql_starrocks.terminal import session

        session.say("\n".join(self.problem.lines(self.command, self.log_path, self.verbose)), err=True)


# --- exceptions nobody turned into a Problem --------------------------------------------------
UNREACHABLE = re.compile(r"Connection refused|could not connect|Can't connect|Unable to connect|timed out|"
                         r"Name or service not known|nodename nor servname|No route to host|error 20009\b|"
                         r"Adaptive Server is unavailable|Max retries exceeded", re.I)

# What to do about a failure of each permanent class (lib/failures.py), for the server it came from.
TODO_BY_CLASS = {
    "auth": "correct the user and password of that server in .env ({users}), " + CHECK,
    "privilege": "ask the administrator of that server to grant the privilege the message names (for StarRocks, "
                 "`mssql-starrocks check` prints the GRANT statement), then run again",
    "trust": "make the certificate trusted as the message says (MSSQL_CA_FILE, MSSQL_HOST_NAME_IN_CERTIFICATE "
             "or MSSQL_TRUST_SERVER_CERTIFICATE), " + CHECK,
    "missing object": "correct the name in the tables file, or create the object; `mssql-starrocks plan --live "
                      "<table>` shows what SQL Server has",
    "invalid SQL": "correct the statement or name it comes from (tables file, SQL Server object); "
                   "the details are in the log file",
    "disk full": "free space where the message says (local disk, Spark's spill directory, the SQL Server or "
                 "StarRocks data volume), then run again",
    "bad configuration": "correct the setting named above in .env, " + CHECK,
    "canceled": "the work was stopped on purpose (Ctrl-C); run it again: a re-run converges",
}
USERS = {"SQL Server": "MSSQL_USER / MSSQL_PASSWORD", "StarRocks": "STARROCKS_USER / STARROCKS_PASSWORD",
         "AWS": "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"}


def server_of(text: str) -> str:
    """Which server a message is about, from the names and URLs it carries."""
    low = text.lower()
    if "mssql://" in low or "sql server" in low or "mssql" in low:
        return "SQL Server"
    if "starrocks" in low or "stream load" in low or "(1045" in low:
        return "StarRocks"
    if "s3" in low or "glue" in low or "aws" in low:
        return "AWS"
    return ""


def todo_for(message: str, server: str = "") -> str:
    """What to do about a failure message, by its permanent class, or as for a transient one."""
    server = server or server_of(message)
    kind = failures.permanent_class(RuntimeError(message))
    if kind in TODO_BY_CLASS:
        return TODO_BY_CLASS[kind].format(users=USERS.get(server, "the server's user and password"))
    if UNREACHABLE.search(message):
        where = {"SQL Server": "MSSQL_HOST / MSSQL_PORT", "StarRocks": "STARROCKS_HOST / STARROCKS_QUERY_PORT / "
                 "STARROCKS_HTTP_PORT", "AWS": "AWS_ENDPOINT_URL / AWS_REGION"}.get(server, "its host and port")
        return f"start {server or 'the server'} or correct {where} in .env, " + CHECK
    return "correct what the message names and run again; the details are in the log file"


def first_line(text: str, limit: int = 600) -> str:
    """The first line of a message, without the class name Dagster puts before a step's error."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = re.sub(r"^dagster\.[\w.]+: ", "", lines[0]) if lines else ""
    return line if len(line) <= limit else line[:limit] + " ..."


def of_exception(exc: BaseException) -> Problem:
    """A Problem for an exception a command did not handle itself: the product's own errors by
    type (anywhere in the cause chain), anything else by its first line."""
    from mssql_starrocks import settings
    from mssql_starrocks.lib.config import TablesFileError
    from mssql_starrocks.source.mssql import SourceError

    for cause in _chain(exc):
        if isinstance(cause, settings.MissingSettingsError):
            return Problem("settings (.env or the environment)", cause.reason,
                           "set them in .env in the project directory (see .env.example), or run `make demo` / "
                           "`python -m mssql_starrocks_devservers up` for local stand-ins")
        if isinstance(cause, TablesFileError):
            return tables_file_problem(str(cause))
        if isinstance(cause, SourceError):
            text = str(cause)
            return Problem(f"SQL Server ({_url(text) or 'MSSQL_HOST'})", text, todo_for(text, "SQL Server"))
        if isinstance(cause, ValueError) and re.match(r"^[A-Z][A-Z0-9_]+[=:]", str(cause)):
            setting = re.match(r"^([A-Z][A-Z0-9_]+)", str(cause)).group(1)
            return Problem(f"setting {setting}", first_line(cause), "correct it in .env, " + CHECK)
    text = first_line(exc) or type(exc).__name__
    server = server_of(text)
    return Problem(server or "the command", f"{type(exc).__name__}: {text}" if server == "" else text,
                   todo_for(text, server))


def tables_file_problem(message: str) -> Problem:
    """`<file>: table <t>: <field>: <reason>` lines -> what failed names the file, table and field."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    parts = lines[0].split(": ") if lines else [message]
    what = f"tables file {parts[0]}"
    if len(parts) >= 3 and parts[1].startswith("table "):
        what += f", {parts[1]}" + (f", field {parts[2]}" if len(parts) >= 4 else "")
    if "tables file not found" in message:
        todo = "write one with `mssql-starrocks discover`, or set MSSQL_STARROCKS_TABLES_FILE to its path"
    else:
        todo = "correct the tables file (README: The tables file); `mssql-starrocks discover --force` writes a fresh one"
    return Problem(what, "\n".join(lines), todo)


def _url(text: str) -> str:
    m = re.search(r"\b(mssql|https?)://[^\s:]+(:\d+)?(/[^\s:]*)?", text)
    return m.group(0) if m else ""


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
