"""Start and stop the stand-in servers as background processes on 127.0.0.1.

Each stand-in runs in its own process group (so `down` can stop it with its children) and
writes its log under the state directory. At the first `up` each server's ports are picked
free just before it starts and recorded, with the generated passwords, in `state.json`; the
settings the product needs are written as `.env` lines. A later `up` restarts only the
stand-ins that are down, on the ports recorded, so the `.env` lines stay valid; if one of those
ports is taken by something else now, `up` stops with `PortTaken` (it never moves a port
silently). `down` stops all three and forgets the ports; the next `up` picks new ones.
Passwords are generated once per state directory so that a restarted SQL Server / StarRocks
stand-in keeps accepting the credentials its persisted data was made with; the S3 + Glue
stand-in keeps a journal of its changes there and replays it when it starts again.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mssql_starrocks_devservers.s3glue.journal import JOURNAL_FILE

DEFAULT_STATE_DIR = Path(".devservers")
MSSQL_DATABASE = "demo"
WAREHOUSE_BUCKET = "warehouse"
STARTUP_TIMEOUT_S = 90.0
FIRST_START_ATTEMPTS = 3  # a port picked free can be taken before the server binds it
JOURNAL_REPLAY_BYTES_PER_S = 10e6  # a conservative rate: the start-up wait grows with the journal
CLI = "python -m mssql_starrocks_devservers"


class PortTaken(RuntimeError):
    """A port recorded for a stand-in that is down is in use by another process."""


@dataclass(frozen=True)
class Server:
    name: str
    ports: tuple[str, ...]

    def command(self, state: dict) -> list[str]:
        ports = state["ports"]
        data_dir = str(Path(state["state_dir"]) / "data" / self.name)
        if self.name == "mssql":
            return [
                sys.executable, "-m", "mssql_starrocks_devservers.mssql",
                "--host", "127.0.0.1", "--port", str(ports["mssql"]),
                "--data-dir", data_dir,
                "--user", state["mssql_user"], "--password-env", "DEVSERVERS_MSSQL_PASSWORD",
            ]
        if self.name == "starrocks":
            return [
                sys.executable, "-m", "mssql_starrocks_devservers.starrocks",
                "--host", "127.0.0.1",
                "--query-port", str(ports["starrocks_query"]),
                "--http-port", str(ports["starrocks_http"]),
                "--be-http-port", str(ports["starrocks_be_http"]),
                "--data-dir", data_dir,
                "--user", state["starrocks_user"], "--password-env", "DEVSERVERS_STARROCKS_PASSWORD",
                "--aws-endpoint-url", f"http://127.0.0.1:{ports['s3glue']}",
            ]
        if self.name == "s3glue":
            return [sys.executable, "-m", "mssql_starrocks_devservers.s3glue", "--host", "127.0.0.1",
                    "--port", str(ports["s3glue"]), "--data-dir", data_dir]
        raise ValueError(self.name)


SERVERS = (
    Server("s3glue", ("s3glue",)),
    Server("mssql", ("mssql",)),
    Server("starrocks", ("starrocks_query", "starrocks_http", "starrocks_be_http")),
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind `port` now (with SO_REUSEADDR, as the stand-ins do: a
    connection of the stopped server left in TIME_WAIT does not count, a listener does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _is_standin(pid: int) -> bool:
    """Whether `pid` still runs one of the stand-ins (after a reboot a recorded pid may be any
    process's): its command line names this package. True where there is no /proc."""
    try:
        return b"mssql_starrocks_devservers" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists() and _pid_alive(pid)
    except OSError:
        return True


def _state_path(state_dir: Path) -> Path:
    return state_dir / "state.json"


def load_state(state_dir: Path) -> dict | None:
    path = _state_path(state_dir)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _save_state(state_dir: Path, state: dict) -> None:
    path = _state_path(state_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _state_for_up(state_dir: Path, previous: dict | None) -> dict:
    keep = previous or {}
    return {
        "state_dir": str(state_dir.resolve()),
        "mssql_user": "sa",
        "mssql_password": keep.get("mssql_password") or "Sa1!" + secrets.token_urlsafe(12),
        "starrocks_user": "root",
        "starrocks_password": keep.get("starrocks_password") or "Sr1!" + secrets.token_urlsafe(12),
        "aws_access_key_id": keep.get("aws_access_key_id") or "AKIA" + secrets.token_hex(8).upper(),
        "aws_secret_access_key": keep.get("aws_secret_access_key") or secrets.token_urlsafe(30),
        # Kept while any stand-in may still be started on them; picked at a first start.
        "ports": dict(keep.get("ports") or {}),
        "pids": dict(keep.get("pids") or {}),
    }


def settings(state: dict) -> dict[str, str]:
    """The product's connection settings for these stand-ins (the lines of the env file)."""
    ports = state["ports"]
    aws = f"http://127.0.0.1:{ports['s3glue']}"
    return {
        "MSSQL_HOST": "127.0.0.1",
        "MSSQL_PORT": str(ports["mssql"]),
        "MSSQL_DATABASE": MSSQL_DATABASE,
        "MSSQL_USER": state["mssql_user"],
        "MSSQL_PASSWORD": state["mssql_password"],
        # The stand-in has no TLS; production keeps the encrypted, certificate-checked default.
        "MSSQL_ENCRYPT": "false",
        "STARROCKS_HOST": "127.0.0.1",
        "STARROCKS_QUERY_PORT": str(ports["starrocks_query"]),
        "STARROCKS_HTTP_PORT": str(ports["starrocks_http"]),
        "STARROCKS_USER": state["starrocks_user"],
        "STARROCKS_PASSWORD": state["starrocks_password"],
        "AWS_ENDPOINT_URL": aws,
        "AWS_ACCESS_KEY_ID": state["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": state["aws_secret_access_key"],
        "AWS_REGION": "us-east-1",
        "GLUE_WAREHOUSE": f"s3://{WAREHOUSE_BUCKET}/iceberg",
    }


def write_env_file(path: Path, values: dict[str, str]) -> None:
    lines = [
        "# Written by `python -m mssql_starrocks_devservers up`: the local stand-in servers.",
        "# To use the S3 + Glue stand-in as the Iceberg catalog, add:",
        "#   ICEBERG_CATALOG_TYPE=glue",
        "#   ICEBERG_WAREHOUSE=${GLUE_WAREHOUSE}",
    ]
    lines += [f"{k}={v}" for k, v in values.items()]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def server_up(server: Server, state: dict) -> bool:
    """Its process is alive and every one of its ports accepts connections."""
    pid = (state.get("pids") or {}).get(server.name)
    ports = state.get("ports") or {}
    if pid is None or not _pid_alive(pid) or not _is_standin(pid) or not all(k in ports for k in server.ports):
        return False
    return all(port_open(ports[key]) for key in server.ports)


def _log_tail(path: Path, lines: int = 40, since: int = 0) -> str:
    """The last lines of a log, from byte `since` on (the log is appended to at every start)."""
    if not path.exists():
        return "(no log)"
    with open(path, "rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _start(server: Server, state: dict, log_dir: Path) -> int:
    log_path = log_dir / f"{server.name}.log"
    env = dict(os.environ)
    env["DEVSERVERS_MSSQL_PASSWORD"] = state["mssql_password"]
    env["DEVSERVERS_STARROCKS_PASSWORD"] = state["starrocks_password"]
    env["PYTHONUNBUFFERED"] = "1"
    if server.name == "s3glue":
        env["MOTO_ALLOW_NONEXISTENT_REGION"] = "true"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            server.command(state),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=state["state_dir"],
        )
    return proc.pid


class _AddressInUse(RuntimeError):
    """The stand-in exited at start-up because one of its ports was taken (EADDRINUSE)."""


def _listening_inodes(port: int) -> set[str] | None:
    """Inodes of the sockets listening on `port`, from /proc; None where there is no /proc."""
    try:
        table = Path("/proc/net/tcp").read_text()
    except OSError:
        return None
    try:
        table += Path("/proc/net/tcp6").read_text()
    except OSError:
        pass
    inodes = set()
    for line in table.splitlines():
        fields = line.split()
        if len(fields) > 9 and fields[3] == "0A" and fields[1].rsplit(":", 1)[-1] == f"{port:04X}":
            inodes.add(fields[9])
    return inodes


def _owns_port(pgid: int, port: int) -> bool:
    """Whether a process of group `pgid` is the one listening on `port`. A port that accepts
    connections may be somebody else's listener that the stand-in failed to bind after it was
    checked free; the stand-in then exits with EADDRINUSE, and `up` must not take the other
    listener for the stand-in (clients would hang on it)."""
    inodes = _listening_inodes(port)
    if inodes is None:
        return True  # no /proc: the open port is all there is to go by
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return True
        except (OSError, ValueError, IndexError):
            continue
    return False


def _journal_path(state: dict) -> Path:
    return Path(state["state_dir"]) / "data" / "s3glue" / JOURNAL_FILE


def _startup_timeout(server: Server, state: dict) -> float:
    """The S3 + Glue stand-in replays its journal before its port opens: allow for its size."""
    if server.name != "s3glue":
        return STARTUP_TIMEOUT_S
    journal = _journal_path(state)
    size = journal.stat().st_size if journal.exists() else 0
    return STARTUP_TIMEOUT_S + size / JOURNAL_REPLAY_BYTES_PER_S


def _wait_ready(server: Server, state: dict, pid: int, log_dir: Path, log_start: int = 0) -> None:
    timeout_s = _startup_timeout(server, state)
    deadline = time.monotonic() + timeout_s
    ports = [state["ports"][p] for p in server.ports]
    log_path = log_dir / f"{server.name}.log"
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            tail = _log_tail(log_path, since=log_start)
            error = _AddressInUse if "address already in use" in tail.lower() else RuntimeError
            raise error(f"the {server.name} stand-in exited during start-up; its log ({log_path}) ends with:\n{tail}")
        if all(port_open(p) for p in ports) and all(_owns_port(pid, p) for p in ports):
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"the {server.name} stand-in did not open ports {ports} within {timeout_s:.0f}s; log:\n"
        f"{_log_tail(log_path, since=log_start)}"
    )


def _launch(server: Server, state: dict, state_dir: Path, log_dir: Path) -> None:
    log_path = log_dir / f"{server.name}.log"
    log_start = log_path.stat().st_size if log_path.exists() else 0
    pid = _start(server, state, log_dir)
    state["pids"][server.name] = pid
    _save_state(state_dir, state)
    _wait_ready(server, state, pid, log_dir, log_start)


def _pick_ports(server: Server, state: dict) -> None:
    taken = set(state["ports"].values())
    for key in server.ports:
        port = free_port()
        while port in taken or not port_free(port):
            port = free_port()
        state["ports"][key] = port
        taken.add(port)


def _first_start(server: Server, state: dict, state_dir: Path, log_dir: Path) -> None:
    """Start a server on ports picked free just before it starts. A free port can still be
    taken before the server binds it (Linux hands the same range to outgoing connections), so
    a server that exits with EADDRINUSE is started again on other ports. Only at a first start:
    nothing refers to these ports yet."""
    for attempt in range(1, FIRST_START_ATTEMPTS + 1):
        _pick_ports(server, state)
        try:
            _launch(server, state, state_dir, log_dir)
            return
        except _AddressInUse:
            state["pids"].pop(server.name, None)
            if attempt == FIRST_START_ATTEMPTS:
                raise


def _port_taken_message(server: Server, key: str, port: int, state_dir: Path) -> str:
    what = key if key == server.name else f"{server.name} {key.split('_', 1)[1].replace('_', ' ')}"
    return (
        f"cannot restart the {server.name} stand-in: its port {port} ({what}), recorded in "
        f"{_state_path(state_dir)} and in the .env file, is now in use by another process. `up` does not move a "
        f"port the settings point at. Stop what holds 127.0.0.1:{port}, or run `{CLI} down` and then "
        f"`{CLI} up` to start all three stand-ins on new ports (the .env file is rewritten; data is kept)."
    )


def _restart(server: Server, state: dict, state_dir: Path, log_dir: Path) -> None:
    try:
        _launch(server, state, state_dir, log_dir)
    except _AddressInUse as exc:
        port_key = next((k for k in server.ports if not port_free(state["ports"][k])), server.ports[0])
        raise PortTaken(_port_taken_message(server, port_key, state["ports"][port_key], state_dir)) from exc


def _aws_client(service: str, state: dict):
    import boto3  # boto3 is a product dependency too; imported here to keep `down` light
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{state['ports']['s3glue']}",
        aws_access_key_id=state["aws_access_key_id"],
        aws_secret_access_key=state["aws_secret_access_key"],
        region_name="us-east-1",
        # The stand-in is local and ready: a reply takes milliseconds, so no minute-long waits.
        config=Config(connect_timeout=5, read_timeout=15, retries={"total_max_attempts": 2}),
    )


def _create_bucket(state: dict) -> None:
    s3 = _aws_client("s3", state)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if WAREHOUSE_BUCKET not in existing:
        s3.create_bucket(Bucket=WAREHOUSE_BUCKET)


def _replay_summary(state: dict, log_dir: Path) -> str:
    """What the restarted S3 + Glue stand-in logged about replaying its journal."""
    lines = (log_dir / "s3glue.log").read_text(errors="replace").splitlines()
    start = max((i for i, line in enumerate(lines) if line.startswith("S3 + Glue content restored")), default=None)
    if start is None:
        return f"s3glue: its journal ({_journal_path(state)}) was not replayed; S3 + Glue start empty"
    replayed = lines[start].split(": ", 1)[1].split(" changes", 1)[0]
    refused = [line for line in lines[start + 1:] if line.startswith("replay refused:")]
    summary = f"s3glue: S3 + Glue content replayed from its journal (changes: {replayed}; {_journal_path(state)})"
    if refused:
        summary += f"; {len(refused)} refused, see {log_dir / 's3glue.log'}"
    return summary


def up(state_dir: Path = DEFAULT_STATE_DIR, env_file: Path | None = None,
       report=None) -> dict[str, str]:
    """Start the stand-ins that are not running and return the settings of all three.

    At a first start (or after `down`) each server gets ports picked free just before it
    starts. Later, only the stand-ins that are down are started again, on their recorded
    ports (running ones are left alone, so the settings stay the same); a recorded port now
    used by another process raises `PortTaken` before anything is started. `report` receives
    one line per thing done worth telling (e.g. `print`).
    """
    say = report or (lambda _line: None)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    log_dir = state_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    state = _state_for_up(state_dir, load_state(state_dir))
    stopped = [s for s in SERVERS if not server_up(s, state)]
    if stopped:
        # A process alive with a port closed is hung: stop it before starting it again.
        _stop_pids({s.name: state["pids"].pop(s.name) for s in stopped if s.name in state["pids"]},
                   _ports_by_name(state))
        restart = [s for s in stopped if all(k in state["ports"] for k in s.ports)]
        for server in restart:
            for key in server.ports:
                if not port_free(state["ports"][key]):
                    _save_state(state_dir, state)
                    raise PortTaken(_port_taken_message(server, key, state["ports"][key], state_dir))
        for server in stopped:
            if server not in restart:  # ports never picked (first start), or only some of them
                for key in server.ports:
                    state["ports"].pop(key, None)
        _save_state(state_dir, state)
        try:
            for server in stopped:  # SERVERS' order: s3glue first, StarRocks is given its port
                if server in restart:
                    _restart(server, state, state_dir, log_dir)
                    ports = ", ".join(f"127.0.0.1:{state['ports'][k]}" for k in server.ports)
                    say(f"{server.name} was down: restarted on its ports {ports}")
                    if server.name == "s3glue":
                        say(_replay_summary(state, log_dir))
                else:
                    _first_start(server, state, state_dir, log_dir)
            _create_bucket(state)
        except BaseException:
            # Stop what this call started; stand-ins that were running stay up.
            _stop_pids({s.name: state["pids"].pop(s.name) for s in stopped if s.name in state["pids"]},
                       _ports_by_name(state))
            if not restart:
                state["ports"] = {}
            _save_state(state_dir, state)
            raise
        running = [s.name for s in SERVERS if s not in stopped]
        if running and restart:
            say("left running: " + ", ".join(running))
    values = settings(state)
    if env_file is not None:
        write_env_file(Path(env_file), values)
    return values


def _stop_pids(pids: dict[str, int], ports: dict[str, list[int]], timeout_s: float = 20.0) -> list[str]:
    """SIGTERM each process group, SIGKILL after `timeout_s`; wait for the ports of the ones that
    were running to close (a dead one's port may be another process's by now)."""
    stopped = []
    pids = {name: pid for name, pid in pids.items() if _is_standin(pid)}  # never another program's
    for name, pid in pids.items():
        if _pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            stopped.append(name)
    deadline = time.monotonic() + timeout_s
    for pid in pids.values():
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    closing = [port for name in stopped for port in ports.get(name, [])]
    while any(port_open(p) for p in closing) and time.monotonic() < deadline + 5:
        time.sleep(0.1)
    return stopped


def _ports_by_name(state: dict) -> dict[str, list[int]]:
    ports = state.get("ports") or {}
    return {s.name: [ports[k] for k in s.ports if k in ports] for s in SERVERS}


def down(state_dir: Path = DEFAULT_STATE_DIR, timeout_s: float = 20.0) -> list[str]:
    """Stop every stand-in started from this state directory; returns the names stopped.

    The ports are forgotten (the next `up` picks new ones and rewrites the .env file); the
    passwords and the data directory are kept."""
    state_dir = Path(state_dir)
    state = load_state(state_dir)
    if state is None:
        return []
    stopped = _stop_pids(dict(state.get("pids") or {}), _ports_by_name(state), timeout_s)
    state["pids"] = {}
    state["ports"] = {}
    _save_state(state_dir, state)
    return stopped


def status(state_dir: Path = DEFAULT_STATE_DIR) -> list[dict] | None:
    """Each stand-in's name, whether it is up, its pid and its ports; None if never started."""
    state = load_state(Path(state_dir))
    if state is None:
        return None
    ports = state.get("ports") or {}
    return [{"name": s.name, "up": server_up(s, state), "pid": (state.get("pids") or {}).get(s.name),
             "ports": {k: ports[k] for k in s.ports if k in ports}} for s in SERVERS]


def status_lines(state_dir: Path = DEFAULT_STATE_DIR) -> list[str]:
    rows = status(state_dir)
    if rows is None:
        return [f"no stand-ins were started from {state_dir}"]
    lines = []
    for row in rows:
        ports = ", ".join(f"127.0.0.1:{port} ({key})" for key, port in row["ports"].items()) or "no ports recorded"
        if row["up"]:
            lines.append(f"{row['name']}: up, pid {row['pid']}, {ports}")
        elif row["ports"]:
            lines.append(f"{row['name']}: down, {ports} (`{CLI} up` restarts it there)")
        else:
            lines.append(f"{row['name']}: down, {ports} (`{CLI} up` picks new ports)")
    return lines
