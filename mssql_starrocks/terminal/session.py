"""One command's terminal and log file.

The terminal shows only what the command itself says (`say`). Everything else a run produces,
Dagster's event log, Spark's and the JVM's output, warnings, the telemetry banner, tracebacks,
goes to the command's log file, unless `--verbose`: then it all reaches the terminal as well.
Silencing works on the file descriptors (`quiet`), because Spark's JVM and Dagster's loggers write
to descriptors 1 and 2 directly; the terminal keeps a copy of the original descriptors.

The log file is `$DAGSTER_HOME/logs/` (next to the runs it describes) or else `./.local/logs/`,
named by time and command; it is made when first needed.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
from pathlib import Path
from typing import TextIO

import click


class Session:
    def __init__(self, command: str, verbose: bool):
        self.command = command
        self.verbose = verbose
        self._log_path: Path | None = None
        self._out: TextIO | None = None  # the original stdout / stderr, once `quiet` redirected 1 and 2
        self._err: TextIO | None = None

    @property
    def has_log(self) -> bool:
        """A log file with something in it (a details line pointing at an empty file would mislead)."""
        return self._log_path is not None and self._log_path.exists() and self._log_path.stat().st_size > 0

    @property
    def log_path(self) -> Path:
        if self._log_path is None:
            home = os.environ.get("DAGSTER_HOME")
            directory = Path(home) / "logs" if home else Path(".local") / "logs"
            directory.mkdir(parents=True, exist_ok=True)
            stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
            path = directory / f"mssql-starrocks-{stamp}-{self.command or 'command'}.log"
            n = 1
            while path.exists():
                n += 1
                path = directory / f"mssql-starrocks-{stamp}-{self.command or 'command'}-{n}.log"
            path.touch()
            self._log_path = path.resolve()
        return self._log_path

    def shown_log_path(self) -> str:
        """The log file's path as the user can type it: relative to here when below it."""
        path = self.log_path
        try:
            return str(path.relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)

    def quiet(self) -> None:
        """Send descriptors 1 and 2 (and so every library and child process) to the log file; the
        command's own words keep going to the terminal. Nothing changes with --verbose."""
        if self.verbose or self._out is not None:
            return
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        try:
            out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):  # not real descriptors (e.g. click's CliRunner)
            return
        self._out = os.fdopen(os.dup(out_fd), "w", buffering=1, encoding="utf-8", errors="replace")
        self._err = os.fdopen(os.dup(err_fd), "w", buffering=1, encoding="utf-8", errors="replace")
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND)
        os.dup2(log_fd, out_fd)
        os.dup2(log_fd, err_fd)
        os.close(log_fd)

    @property
    def quiet_to_log(self) -> bool:
        """Whether other output goes to the log file (see `quiet`)."""
        return self._out is not None

    def terminal(self, err: bool = False) -> TextIO:
        if self._out is not None:
            return self._err if err else self._out
        return sys.stderr if err else sys.stdout

    def log(self, text: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")

    def record_exception(self, exc: BaseException) -> None:
        """The traceback into the log file, and on the terminal with --verbose."""
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.log(f"--- mssql-starrocks {self.command}: {dt.datetime.now(dt.timezone.utc).isoformat()}\n{text}")
        if self.verbose:
            say(text.rstrip(), err=True)


_current = Session("", verbose=False)


def start(command: str, verbose: bool) -> Session:
    global _current
    _current = Session(command, verbose)
    return _current


def current() -> Session:
    return _current


def say(text: str = "", err: bool = False) -> None:
    """The command's own output: always on the terminal."""
    click.echo(text, file=_current.terminal(err))
