"""Real Spark servers on 127.0.0.1 for tests, from the pip pyspark distribution (no other download).

* `standalone_cluster`: a Spark standalone Master and one Worker (`bin/spark-class
  org.apache.spark.deploy.master.Master` / `...worker.Worker`), few cores and little memory.
* `connect_server`: a Spark Connect server (`bin/spark-submit --class
  org.apache.spark.sql.connect.service.SparkConnectServer`) with the plugin of jars/connect and
  the project's jars of jars/lib, started as the README tells an operator to start one.

Each daemon runs in its own session (process group), so stopping it also stops what it started
(the Worker's executor JVMs and their Python workers): nothing is left running after the
context manager exits, even when the test failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from mssql_starrocks_devservers.runtime import free_port, port_open


def spark_home() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def daemon_env(**extra: str) -> dict[str, str]:
    """The environment of a Spark daemon: this machine's, bound to 127.0.0.1, none of the test
    process's Spark or product settings (so the driver's settings are the only ones that count)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPARK_", "PYSPARK_", "MSSQL_", "STARROCKS_", "AWS_", "ICEBERG_"))}
    env.update({"SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_DAEMON_MEMORY": "384m"})
    env.update(extra)
    return env


class Daemon:
    """One server process in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str], cwd: Path):
        self.name, self.log = name, log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=env, cwd=cwd, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, ready, what: str, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before {what}:\n{self.log_tail()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name}: no {what} after {timeout_s:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is still there."""
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            return
        for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and _group_alive(pgid):
                self.proc.poll()
                time.sleep(0.2)
            if not _group_alive(pgid):
                break
        self.proc.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader still counts for killpg; look for a live member.
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def get_json(url: str, timeout_s: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout_s) as reply:
        return json.loads(reply.read().decode())


@dataclass
class Cluster:
    master_url: str          # spark://127.0.0.1:<port>: what SPARK_MASTER is set to
    webui_url: str           # the master's web UI; <webui_url>/json/ is its JSON API
    worker_dir: Path         # the worker's work directory: <app id>/<executor id>/{stdout,stderr,jars}
    logs: list[Path]

    def state(self) -> dict:
        return get_json(self.webui_url + "/json/")


@contextmanager
def standalone_cluster(work: Path, *, cores: int = 2, memory: str = "1g"):
    """A Master and one Worker on 127.0.0.1 on free ports; both (and their executors) stopped at exit."""
    work.mkdir(parents=True, exist_ok=True)
    spark_class = str(spark_home() / "bin" / "spark-class")
    port, webui, worker_port, worker_webui = (free_port() for _ in range(4))
    worker_dir = work / "worker"
    worker_dir.mkdir(exist_ok=True)
    env = daemon_env()
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{webui}", worker_dir,
                      [work / "master.log", work / "worker.log"])
    with ExitStack() as stack:
        master = Daemon("spark master", [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                         "--port", str(port), "--webui-port", str(webui)],
                        cluster.logs[0], env, work)
        stack.callback(master.stop)
        master.wait_until(lambda: port_open(port) and cluster.state()["status"] == "ALIVE", "master up")
        worker = Daemon("spark worker", [spark_class, "org.apache.spark.deploy.worker.Worker", cluster.master_url,
                                         "--host", "127.0.0.1", "--port", str(worker_port),
                                         "--webui-port", str(worker_webui), "--cores", str(cores),
                                         "--memory", memory, "--work-dir", str(worker_dir)],
                        cluster.logs[1], env, work)
        stack.callback(worker.stop)
        worker.wait_until(lambda: any(w["state"] == "ALIVE" for w in cluster.state()["workers"]),
                          "worker registered with the master")
        yield cluster


ROOT = Path(__file__).resolve().parents[1]
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
REDACTION = "(?i)secret|password|token|access.?key|credential"


@dataclass
class ConnectServer:
    url: str                 # sc://127.0.0.1:<port>: what SPARK_REMOTE is set to
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def connect_server_argv(port: int, master: str = "local[2]") -> list[str]:
    """The server's command line: the plugin, the project's jars, Iceberg's SQL extensions."""
    jars = sorted(str(p) for p in (ROOT / "jars" / "lib").glob("*.jar"))
    plugin = sorted(str(p) for p in (ROOT / "jars" / "connect").glob("spark-connect_*.jar"))
    if not jars or not plugin:
        raise RuntimeError("jars/lib or jars/connect is empty: run jars/fetch.sh (make bootstrap)")
    return [str(spark_home() / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--name", "Spark Connect server", "--master", master, "--driver-memory", "1g",
            "--jars", ",".join(plugin + jars),
            "--conf", f"spark.connect.grpc.binding.port={port}",
            "--conf", f"spark.sql.extensions={ICEBERG_EXTENSIONS}",
            "--conf", f"spark.redaction.regex={REDACTION}",
            "--conf", "spark.ui.enabled=false",
            "spark-internal"]


@contextmanager
def connect_server(work: Path, *, env: dict[str, str] | None = None, master: str = "local[2]"):
    """A Spark Connect server on a free port, its Python workers running this virtualenv's
    interpreter (pyarrow, requests, this project); stopped with everything it started at exit."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = ConnectServer(f"sc://127.0.0.1:{port}", work / "connect-server.log")
    daemon = Daemon("spark connect server", connect_server_argv(port, master), server.log,
                    # spark-submit sizes a server's JVM by SPARK_DAEMON_MEMORY, not --driver-memory.
                    daemon_env(PYSPARK_PYTHON=sys.executable, SPARK_DAEMON_MEMORY="1g", **(env or {})), work)
    try:
        daemon.wait_until(lambda: "Spark Connect server started" in server.log_text() and port_open(port),
                          "Spark Connect server listening", timeout_s=180)
        yield server
    finally:
        daemon.stop()
