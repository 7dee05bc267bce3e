"""Building the Spark session: local by default, any master or Spark Connect by configuration.

The jars Spark needs (Iceberg runtime + AWS bundle, JDBC drivers) are fetched into `jars/lib`
by `jars/fetch.sh`; a session is refused early, with the fix in the message, when they are
missing, instead of failing later with a ClassNotFoundException deep in a job.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_JARS_DIR = PROJECT_ROOT / "jars" / "lib"
REQUIRED_JAR_PREFIXES = ("iceberg-spark-runtime-", "iceberg-aws-bundle-", "mssql-jdbc-", "mysql-connector-j-")


def jar_paths(jars_dir: Path | str | None = None) -> list[str]:
    directory = Path(jars_dir) if jars_dir else Path(os.environ.get("MSSQL_STARROCKS_JARS_DIR", DEFAULT_JARS_DIR))
    jars = sorted(str(p) for p in directory.glob("*.jar")) if directory.is_dir() else []
    missing = [prefix for prefix in REQUIRED_JAR_PREFIXES if not any(Path(j).name.startswith(prefix) for j in jars)]
    if missing:
        raise RuntimeError(
            f"Spark jars missing in {directory}: {', '.join(p.rstrip('-') for p in missing)}. "
            "Run `jars/fetch.sh` (it fetches the versions pinned in jars/pom.xml with Maven)."
        )
    return jars


def with_jars(conf: dict[str, str]) -> dict[str, str]:
    """The conf a session starts with: a classic session gets the jars of its jars directory
    listed (and checked: a missing one is refused, naming it and the command that fetches it); a
    Spark Connect server has its own jars."""
    conf = dict(conf)
    if not remote_url(conf):
        conf["spark.jars"] = ",".join(jar_paths(Path(conf.get("spark.jars", str(DEFAULT_JARS_DIR))).parent))
    return conf


# Classes the run loads from the jars: Iceberg's catalog and the two JDBC drivers.
JAR_CLASSES = ("org.apache.iceberg.spark.SparkCatalog", "com.microsoft.sqlserver.jdbc.SQLServerDriver",
               "com.mysql.cj.jdbc.Driver")


def check_session(conf: dict[str, str]) -> str:
    """Start the session the run would (`conf` as the run builds it), ask it for one small job and
    stop it; what it is. Raises when a jar is missing, a class cannot be loaded or Spark cannot start."""
    import time

    started = time.monotonic()
    conf = with_jars(conf)
    spark = build_session(conf)
    try:
        spark.range(1).count()
        remote = remote_url(conf)
        if remote:
            return (f"Spark Connect server {display_remote(remote)} answers (Spark {spark.version}, Iceberg's SQL "
                    "extensions on)")
        loader = spark._jvm.java.lang.Thread.currentThread().getContextClassLoader()
        for name in JAR_CLASSES:
            try:
                spark._jvm.java.lang.Class.forName(name, False, loader)
            except Exception as exc:  # noqa: BLE001 - py4j wraps the JVM's ClassNotFoundException
                raise RuntimeError(f"Spark started but cannot load {name} from the jars in "
                                   f"{Path(conf['spark.jars'].split(',')[0]).parent}: {str(exc).splitlines()[0]}. "
                                   "Run `jars/fetch.sh` again") from None
        jars = ", ".join(Path(j).name for j in conf["spark.jars"].split(",")
                         if Path(j).name.startswith(REQUIRED_JAR_PREFIXES))
        return (f"{conf.get('spark.master', 'local[*]')} Spark {spark.version} started in "
                f"{time.monotonic() - started:.1f} s; jars {jars}")
    finally:
        spark.stop()


def base_spark_conf(
    *,
    master: str = "local[*]",
    app_name: str = "mssql_starrocks",
    shuffle_partitions: int = 8,
    jars_dir: Path | str | None = None,
    extra_conf: dict[str, str] | None = None,
    check_jars: bool = True,
) -> dict[str, str]:
    """The Spark conf every session of the project starts from (before catalog settings).

    With check_jars=False the jars are named by a glob (Spark expands it at start-up), so that
    building the conf does no I/O; SparkResource checks them when it starts the session.
    """
    conf = {
        "spark.app.name": app_name,
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        # Spark 3.5 writes dates/timestamps before 1582 in the proleptic calendar only when asked.
        "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
        "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
        "spark.ui.showConsoleProgress": "false",
        # Secrets must not be printed by Spark's conf dumps / UI environment page.
        "spark.redaction.regex": "(?i)secret|password|token|access.?key|credential",
    }
    if not master.startswith("sc://"):
        conf["spark.master"] = master
        if check_jars:
            conf["spark.jars"] = ",".join(jar_paths(jars_dir))
        else:
            conf["spark.jars"] = str(Path(jars_dir or os.environ.get("MSSQL_STARROCKS_JARS_DIR", DEFAULT_JARS_DIR)) / "*.jar")
        if master.startswith("local"):
            conf.setdefault("spark.ui.enabled", "false")
            # Python workers must run this interpreter (pyarrow, requests), not whatever python3 is on PATH.
            conf.setdefault("spark.pyspark.python", os.environ.get("PYSPARK_PYTHON") or sys.executable)
    conf.update(extra_conf or {})
    return conf


def prepare_python_workers(conf: dict[str, str]) -> None:
    """PySpark starts local Python workers from PYSPARK_PYTHON (default: python3 on PATH)."""
    if conf.get("spark.pyspark.python"):
        os.environ.setdefault("PYSPARK_PYTHON", conf["spark.pyspark.python"])


# Settings a Spark Connect client cannot change: they belong to the server's start
# (`spark-submit --conf ...`), so they are not sent; the ones the assets need are checked.
SERVER_SIDE_PREFIXES = ("spark.master", "spark.remote", "spark.jars", "spark.app.name", "spark.sql.extensions",
                        "spark.ui.", "spark.redaction.regex", "spark.driver.", "spark.executor.", "spark.pyspark.",
                        "spark.submit.", "spark.yarn.", "spark.kubernetes.", "spark.dynamicAllocation.")
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"


def remote_url(conf: dict[str, str]) -> str | None:
    """The Spark Connect URL (sc://host:port) the conf names, or None for a classic session."""
    master = conf.get("spark.master", "")
    return conf.get("spark.remote") or (master if master.startswith("sc://") else None)


def display_remote(url: str) -> str:
    """A Spark Connect URL without its parameters (`sc://host:port/;token=...` carries secrets)."""
    return url.split("/;", 1)[0].split(";", 1)[0]


def is_connect(spark) -> bool:
    """True for a Spark Connect session (no SparkContext, no JVM in this process)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


class SparkConnectServerError(RuntimeError):
    pass


def build_session(conf: dict[str, str]):
    """Get or create the SparkSession for `conf` (Spark Connect when spark.remote / sc:// is set)."""
    from pyspark.sql import SparkSession

    remote = remote_url(conf)
    if remote:
        return _connect_session(remote, conf)
    prepare_python_workers(conf)
    builder = SparkSession.builder
    for key, value in conf.items():
        if key != "spark.remote":
            builder = builder.config(key, value)
    return builder.getOrCreate()


def _connect_session(remote: str, conf: dict[str, str]):
    """A Spark Connect session with the session settings of `conf`; the server's own start-up
    settings are checked instead of sent (a client cannot change them)."""
    from pyspark.sql import SparkSession

    session_conf = {k: v for k, v in conf.items() if not k.startswith(SERVER_SIDE_PREFIXES)}
    spark = SparkSession.builder.remote(remote).config(map=session_conf).getOrCreate()
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    if ICEBERG_EXTENSIONS not in extensions:
        raise SparkConnectServerError(
            f"the Spark Connect server at {display_remote(remote)} runs without Iceberg's SQL extensions; start it with "
            f"--conf spark.sql.extensions={ICEBERG_EXTENSIONS} and the jars of jars/lib on --jars "
            "(see README, \"Spark: local, a cluster, or Spark Connect\")"
        )
    return spark


class SparkConnectUnsupported(RuntimeError):
    pass


def check_spark_connect(plans, env=None) -> None:
    """With Spark Connect, refuse at load what it cannot run, naming each reason and the way out.

    * Tables whose load mode cannot run there (see each mode's `spark_connect_refusal`): their
      Iceberg commit is a MERGE INTO carrying the run's state in its snapshot summary, which
      Iceberg 1.10 on Spark 3.5 takes only through a call into the driver's JVM.
    * The local catalog: its SQLite file would be opened by the server, once per client session,
      and a session the server keeps blocks the next run's commits (SQLITE_BUSY).
    """
    from mssql_starrocks import settings

    e = os.environ if env is None else env
    variable = settings.spark_remote_variable(e)
    if variable is None:
        return
    problems = []
    if settings.catalog_type(e) == "local":
        problems.append(
            "ICEBERG_CATALOG_TYPE=local: the local catalog (SQLite) would be opened by the Spark Connect server "
            "once per client session, and a session the server keeps open blocks the next run's commits "
            "(SQLITE_BUSY); use ICEBERG_CATALOG_TYPE=glue with ICEBERG_WAREHOUSE=s3://...")
    refused = [p for p in plans if p.mode.spark_connect_refusal]
    if refused:
        listed = ", ".join(f"{p.spec.qualified} ({p.load_mode})" for p in refused)
        problems.append(f"{refused[0].tables_file}: table(s) {listed} {refused[0].mode.spark_connect_refusal}")
    if problems:
        raise SparkConnectUnsupported(
            f"Spark Connect ({variable}={display_remote(e[variable])}) runs tables with load_mode full on the "
            "Glue catalog only:\n  - " + "\n  - ".join(problems))


def cancel_running_jobs() -> None:
    """Cancel the Spark jobs of this process's session (Ctrl-C on a run), so a step waiting on
    one returns instead of running to its end. Best effort: there may be no session yet."""
    try:
        from pyspark import SparkContext

        context = SparkContext._active_spark_context
        if context is not None:
            context.cancelAllJobs()
    except Exception:  # noqa: BLE001 - the JVM may be gone already
        pass
    try:
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
        if session is not None and is_connect(session):
            session.interruptAll()
    except Exception:  # noqa: BLE001
        pass
