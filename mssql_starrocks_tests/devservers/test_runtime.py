"""`python -m mssql_starrocks_devservers up` starts the three stand-ins, restarts a dead one on its
ports with its content, and `down` leaves no port open."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mssql_starrocks_devservers import runtime

pytestmark = pytest.mark.integration

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


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def _aws(service: str, values: dict[str, str]):
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=values["AWS_ENDPOINT_URL"], region_name=values["AWS_REGION"],
                        aws_access_key_id=values["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=values["AWS_SECRET_ACCESS_KEY"],
                        config=Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1}))


def _kill_group(pid: int) -> None:
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while runtime._pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not runtime._pid_alive(pid)


def test_up_restarts_only_the_dead_stand_in_on_its_ports_and_s3_glue_content_survives(tmp_path):
    state = tmp_path / "state"
    env_file = tmp_path / ".env.devservers"
    first = _cli("--state-dir", str(state), "up", "--env-file", str(env_file), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    try:
        env_before = env_file.read_text()
        values = _env(env_file)
        before = runtime.load_state(state)
        s3, glue = _aws("s3", values), _aws("glue", values)
        s3.put_object(Bucket="warehouse", Key="iceberg/db/t/metadata/00001.json", Body=b'{"v": 1}')
        glue.create_database(DatabaseInput={"Name": "kept_db"})
        glue.create_table(DatabaseName="kept_db", TableInput={"Name": "t", "Parameters": {"metadata_location": "m1"}})

        # SQL Server dies: `status` says so, `up` restarts it alone on its port.
        _kill_group(before["pids"]["mssql"])
        status = _cli("--state-dir", str(state), "status", cwd=tmp_path)
        assert status.returncode == 3
        assert f"mssql: down, 127.0.0.1:{before['ports']['mssql']} (mssql)" in status.stdout
        assert f"s3glue: up, pid {before['pids']['s3glue']}, 127.0.0.1:{before['ports']['s3glue']} (s3glue)" in status.stdout
        again = _cli("--state-dir", str(state), "up", "--env-file", str(env_file), cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"mssql was down: restarted on its ports 127.0.0.1:{before['ports']['mssql']}" in again.stdout
        assert "left running: s3glue, starrocks" in again.stdout
        after = runtime.load_state(state)
        assert after["ports"] == before["ports"]
        assert after["pids"]["mssql"] != before["pids"]["mssql"]
        assert {k: after["pids"][k] for k in ("s3glue", "starrocks")} == {
            k: before["pids"][k] for k in ("s3glue", "starrocks")}
        assert env_file.read_text() == env_before
        import pymssql

        conn = pymssql.connect(server="127.0.0.1", port=values["MSSQL_PORT"], user=values["MSSQL_USER"],
                               password=values["MSSQL_PASSWORD"], database="master", tds_version="7.4")
        conn.close()
        assert s3.get_object(Bucket="warehouse", Key="iceberg/db/t/metadata/00001.json")["Body"].read() == b'{"v": 1}'

        # The S3 + Glue stand-in itself dies: restarted on its port with its content replayed.
        table = glue.get_table(DatabaseName="kept_db", Name="t")["Table"]
        glue.update_table(DatabaseName="kept_db", VersionId=table["VersionId"],
                          TableInput={"Name": "t", "Parameters": {"metadata_location": "m2"}})
        parts = [b"a" * (5 * 1024 * 1024), b"tail"]  # a multipart upload: its upload id changes at replay
        upload = s3.create_multipart_upload(Bucket="warehouse", Key="iceberg/db/t/data/big.parquet")["UploadId"]
        etags = [s3.upload_part(Bucket="warehouse", Key="iceberg/db/t/data/big.parquet", UploadId=upload,
                                PartNumber=n, Body=body)["ETag"] for n, body in enumerate(parts, 1)]
        s3.complete_multipart_upload(Bucket="warehouse", Key="iceberg/db/t/data/big.parquet", UploadId=upload,
                                     MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n}
                                                                for n, e in enumerate(etags, 1)]})
        s3.put_object(Bucket="warehouse", Key="iceberg/db/t/metadata/deleted.json", Body=b"x")
        s3.delete_object(Bucket="warehouse", Key="iceberg/db/t/metadata/deleted.json")
        _kill_group(after["pids"]["s3glue"])
        third = _cli("--state-dir", str(state), "up", "--env-file", str(env_file), cwd=tmp_path)
        assert third.returncode == 0, third.stdout + third.stderr
        # create_bucket, 1 + 2 puts, a delete, 4 multipart steps, 3 Glue writes: reads are not journaled
        assert "s3glue: S3 + Glue content replayed from its journal (changes: 11; " in third.stdout, third.stdout
        assert "refused" not in third.stdout
        final = runtime.load_state(state)
        assert final["ports"] == before["ports"]
        assert {k: final["pids"][k] for k in ("mssql", "starrocks")} == {
            k: after["pids"][k] for k in ("mssql", "starrocks")}
        assert env_file.read_text() == env_before
        assert s3.get_object(Bucket="warehouse", Key="iceberg/db/t/metadata/00001.json")["Body"].read() == b'{"v": 1}'
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="warehouse")["Contents"]) == [
            "iceberg/db/t/data/big.parquet", "iceberg/db/t/metadata/00001.json"]
        assert s3.get_object(Bucket="warehouse", Key="iceberg/db/t/data/big.parquet")["Body"].read() == b"".join(parts)
        assert [d["Name"] for d in glue.get_databases()["DatabaseList"]] == ["kept_db"]
        table = glue.get_table(DatabaseName="kept_db", Name="t")["Table"]
        assert table["Parameters"] == {"metadata_location": "m2"} and table["VersionId"] == "2"
        status = _cli("--state-dir", str(state), "status", cwd=tmp_path)
        assert status.returncode == 0
        assert status.stdout.count(": up, pid ") == 3
        assert f"starrocks: up, pid {before['pids']['starrocks']}, 127.0.0.1:{before['ports']['starrocks_query']} (starrocks_query)" in status.stdout
    finally:
        runtime.down(state)


def test_a_restart_port_taken_by_another_process_fails_with_a_clear_message(tmp_path):
    state = tmp_path / "state"
    env_file = tmp_path / ".env.devservers"
    runtime.up(state, env_file)
    try:
        before = runtime.load_state(state)
        env_before = env_file.read_text()
        port = before["ports"]["starrocks_http"]
        _kill_group(before["pids"]["starrocks"])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            started = time.monotonic()
            result = _cli("--state-dir", str(state), "up", "--env-file", str(env_file), cwd=tmp_path)
            assert time.monotonic() - started < 20
        assert result.returncode == 2, result.stdout + result.stderr
        message = result.stderr
        assert "cannot restart the starrocks stand-in" in message
        assert f"port {port} (starrocks http)" in message
        assert "python -m mssql_starrocks_devservers down" in message and "mssql_starrocks_devservers up" in message
        assert "Traceback" not in message
        state_after = runtime.load_state(state)
        assert state_after["ports"] == before["ports"]  # not moved
        assert "starrocks" not in state_after["pids"]
        assert {k: state_after["pids"][k] for k in ("s3glue", "mssql")} == {
            k: before["pids"][k] for k in ("s3glue", "mssql")}
        assert env_file.read_text() == env_before
        # Once the port is free again, `up` brings StarRocks back there.
        runtime.up(state, env_file)
        assert runtime.load_state(state)["ports"] == before["ports"]
        assert all(runtime.server_up(s, runtime.load_state(state)) for s in runtime.SERVERS)
        assert env_file.read_text() == env_before
    finally:
        runtime.down(state)
    assert runtime.load_state(state)["ports"] == {}
    assert [line.split(",")[0] for line in runtime.status_lines(state)] == [
        "s3glue: down", "mssql: down", "starrocks: down"]


def test_first_start_moves_a_port_taken_between_picking_and_binding(tmp_path, monkeypatch):
    """The S3 + Glue stand-in's first pick is a port another process listens on by the time it
    binds: it exits with EADDRINUSE (the other listener is not taken for it) and is started
    again on another port, without a long wait."""
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    held = taken.getsockname()[1]
    real_free_port, real_port_free = runtime.free_port, runtime.port_free
    picks = iter([held])
    monkeypatch.setattr(runtime, "free_port", lambda: next(picks, None) or real_free_port())
    monkeypatch.setattr(runtime, "port_free", lambda p, host="127.0.0.1": p == held or real_port_free(p, host))
    state = tmp_path / "state"
    try:
        started = time.monotonic()
        values = runtime.up(state)
        assert time.monotonic() - started < 60
        ports = runtime.load_state(state)["ports"]
        assert ports["s3glue"] != held and values["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{ports['s3glue']}"
        assert "address already in use" in (state / "logs" / "s3glue.log").read_text().lower()
        assert sorted(ports) == sorted(p for s in runtime.SERVERS for p in s.ports)
        assert [b["Name"] for b in _aws("s3", values).list_buckets()["Buckets"]] == ["warehouse"]
    finally:
        runtime.down(state)
        taken.close()
