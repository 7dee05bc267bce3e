"""`python -m mssql_starrocks_devservers up` starts the three stand-ins; `down` leaves no port open."""

import os
import subprocess
import sys
from pathlib import Path

from mssql_starrocks_devservers import runtime

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mssql_starrocks_devservers", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_up_writes_env_file_and_down_closes_every_port(tmp_path):
    state = tmp_path / "state"
    env_file = tmp_path / ".env.devservers"
    up = _cli("--state-dir", str(state), "up", "--env-file", str(env_file), cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line and not line.startswith("#"))
    for key in ("MSSQL_HOST", "MSSQL_PORT", "MSSQL_PASSWORD", "STARROCKS_QUERY_PORT", "STARROCKS_HTTP_PORT",
                "AWS_ENDPOINT_URL", "AWS_SECRET_ACCESS_KEY"):
        assert values.get(key), key
    # The passwords are not on any process's command line.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert values["MSSQL_PASSWORD"] not in ps and values["STARROCKS_PASSWORD"] not in ps
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    state_data = runtime.load_state(state)
    ports = list(state_data["ports"].values())
    assert all(runtime.port_open(p) for p in ports)
    # Real clients log in with the written settings.
    import pymssql
    import pymysql

    conn = pymssql.connect(server="127.0.0.1", port=values["MSSQL_PORT"], user=values["MSSQL_USER"],
                           password=values["MSSQL_PASSWORD"], database="master", tds_version="7.4")
    conn.close()
    conn = pymysql.connect(host="127.0.0.1", port=int(values["STARROCKS_QUERY_PORT"]), user=values["STARROCKS_USER"],
                           password=values["STARROCKS_PASSWORD"])
    conn.close()
    # A second `up` reuses the running servers.
    again = _cli("--state-dir", str(state), "up", "--env-file", str(env_file), cwd=tmp_path)
    assert again.returncode == 0
    assert runtime.load_state(state)["pids"] == state_data["pids"]

    down = _cli("--state-dir", str(state), "down", cwd=tmp_path)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "mssql" in down.stdout and "starrocks" in down.stdout and "s3glue" in down.stdout
    assert not any(runtime.port_open(p) for p in ports)
    for pid in state_data["pids"].values():
        assert not runtime._pid_alive(pid)
