"""Start and stop the stand-in servers as background processes on 127.0.0.1.

Each stand-in runs in its own process group (so `down` can stop it with its children) and
writes its log under the state directory. Ports are picked free at `up` and recorded, with
the generated passwords, in `state.json`; the settings the product needs are written as
`.env` lines. Passwords are generated once per state directory so that a restarted
SQL Server / StarRocks stand-in keeps accepting the credentials its persisted data was made
with.
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

DEFAULT_STATE_DIR = Path(".devservers")
MSSQL_DATABASE = "demo"
WAREHOUSE_BUCKET = "warehouse"
STARTUP_TIMEOUT_S = 90.0


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
                    "--port", str(ports["s3glue"])]
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


def _new_state(state_dir: Path, previous: dict | None) -> dict:
    keep = previous or {}
    return {
        "state_dir": str(state_dir.resolve()),
        "mssql_user": "sa",
        "mssql_password": keep.get("mssql_password") or "Sa1!" + secrets.token_urlsafe(12),
        "starrocks_user": "root",
        "starrocks_password": keep.get("starrocks_password") or "Sr1!" + secrets.token_urlsafe(12),
        "aws_access_key_id": keep.get("aws_access_key_id") or "AKIA" + secrets.token_hex(8).upper(),
        "aws_secret_access_key": keep.get("aws_secret_access_key") or secrets.token_urlsafe(30),
        "ports": {p: free_port() for s in SERVERS for p in s.ports},
        "pids": {},
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


def _running(state: dict) -> bool:
    pids = state.get("pids") or {}
    if set(pids) != {s.name for s in SERVERS}:
        return False
    return all(_pid_alive(pid) for pid in pids.values()) and all(
        port_open(port) for port in state["ports"].values()
    )


def _log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


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


def _wait_ready(server: Server, state: dict, pid: int, log_dir: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    ports = [state["ports"][p] for p in server.ports]
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            raise RuntimeError(
                f"the {server.name} stand-in exited during start-up; its log "
                f"({log_dir / (server.name + '.log')}) ends with:\n{_log_tail(log_dir / (server.name + '.log'))}"
            )
        if all(port_open(p) for p in ports):
            return
        time.sleep(0.2)
    raise RuntimeError(
        f"the {server.name} stand-in did not open ports {ports} within {STARTUP_TIMEOUT_S:.0f}s; log:\n"
        f"{_log_tail(log_dir / (server.name + '.log'))}"
    )


def _create_bucket(state: dict) -> None:
    import boto3  # boto3 is a product dependency too; imported here to keep `down` light

    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{state['ports']['s3glue']}",
        aws_access_key_id=state["aws_access_key_id"],
        aws_secret_access_key=state["aws_secret_access_key"],
        region_name="us-east-1",
    )
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if WAREHOUSE_BUCKET not in existing:
        s3.create_bucket(Bucket=WAREHOUSE_BUCKET)


def up(state_dir: Path = DEFAULT_STATE_DIR, env_file: Path | None = None) -> dict[str, str]:
    """Start all stand-ins (or reuse running ones) and return their settings."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    log_dir = state_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    previous = load_state(state_dir)
    if previous is not None and _running(previous):
        state = previous
    else:
        if previous is not None:
            down(state_dir)
        state = _new_state(state_dir, previous)
        _save_state(state_dir, state)
        try:
            for server in SERVERS:
                pid = _start(server, state, log_dir)
                state["pids"][server.name] = pid
                _save_state(state_dir, state)
                _wait_ready(server, state, pid, log_dir)
            _create_bucket(state)
        except BaseException:
            down(state_dir)
            raise
    values = settings(state)
    if env_file is not None:
        write_env_file(Path(env_file), values)
    return values


def down(state_dir: Path = DEFAULT_STATE_DIR, timeout_s: float = 20.0) -> list[str]:
    """Stop every stand-in started from this state directory; returns the names stopped."""
    state_dir = Path(state_dir)
    state = load_state(state_dir)
    if state is None:
        return []
    stopped = []
    pids = state.get("pids") or {}
    for name, pid in pids.items():
        if _pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            stopped.append(name)
    deadline = time.monotonic() + timeout_s
    for name, pid in pids.items():
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    ports = list(state["ports"].values())
    while any(port_open(p) for p in ports) and time.monotonic() < deadline + 5:
        time.sleep(0.1)
    state["pids"] = {}
    _save_state(state_dir, state)
    return stopped
