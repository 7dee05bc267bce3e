"""One run per table at a time: a lock file per target table, held by a run until it ends.

The first step of a run that writes a table (extract, Iceberg commit or StarRocks load) takes
the table's lock; the run keeps it until it ends, so a second run of the same table waits for
the whole first run instead of interleaving its steps with it (landing, commit and load of one
run always belong together). The lock is `flock(2)` on `<lock_dir>/<namespace>.<table>.lock`:
it works across processes on one host and the kernel releases it when the holder dies
(SIGKILL, OOM), so a crashed run never leaves a stale lock. The file also names the holder
(run id, step, pid, host, since), so a waiting run can say whom it waits for.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Callable

Log = Callable[[str], None]


class TableBusyError(RuntimeError):
    """Another run held the table's lock for longer than this run was allowed to wait."""


class RunLocks:
    """The table locks one run holds; `release_all` when the run ends."""

    def __init__(self, lock_dir: str | Path, timeout_s: float, poll_s: float = 1.0, wait_log_every_s: float = 60.0):
        self.lock_dir = Path(lock_dir)
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.wait_log_every_s = wait_log_every_s
        self._held: dict[str, int] = {}

    def hold(self, name: str, *, label: str, run_id: str, step: str, log: Log) -> None:
        """Take the lock `name` for this run (no-op if held already), waiting up to timeout_s."""
        if name in self._held:
            return
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        started = time.monotonic()
        last_log = None
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    pass
                waited = time.monotonic() - started
                holder = describe_holder(_read_holder(fd))
                if waited >= self.timeout_s:
                    raise TableBusyError(
                        f"{label}: another run is migrating this table: {holder}; this run waited "
                        f"{waited:.0f}s for it (MSSQL_STARROCKS_LOCK_TIMEOUT_S={self.timeout_s:g}) and changed "
                        "nothing. Run it again when that run has finished.")
                if last_log is None or time.monotonic() - last_log >= self.wait_log_every_s:
                    log(f"{label}: waiting for the table lock ({step}): {holder}")
                    last_log = time.monotonic()
                time.sleep(self.poll_s)
        except BaseException:
            os.close(fd)
            raise
        record = {"run_id": run_id, "step": step, "pid": os.getpid(), "host": socket.gethostname(),
                  "since": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._held[name] = fd
        waited = time.monotonic() - started
        log(f"{label}: holding the table lock for run {run_id} until it ends"
            + (f" (waited {waited:.0f}s)" if last_log is not None else ""))

    def release_all(self) -> None:
        for fd in self._held.values():
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # closing the descriptor releases the flock
        self._held.clear()


def _read_holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}


def describe_holder(holder: dict) -> str:
    if not holder.get("run_id"):
        return "a run that is just starting holds it"
    return (f"run {holder['run_id']} holds it since {holder.get('since')} (took it in its {holder.get('step')} step; "
            f"pid {holder.get('pid')} on {holder.get('host')})")
