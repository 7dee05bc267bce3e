"""Resources: thin typed wrappers over the real clients, configured from the environment.

Every secret is a `dagster.EnvVar`, so Dagit shows the variable's name, never its value.
`migration_resources()` is the one place that picks local vs production settings: the Iceberg
catalog is local (a JDBC catalog on SQLite under `.local/iceberg`) unless
`ICEBERG_CATALOG_TYPE=glue`, and Spark runs `local[*]` unless `SPARK_MASTER` or
`SPARK_REMOTE` (Spark Connect) names another. Nothing here connects to anything at load time.

Spark Connect runs what needs no JVM call from this process (tables with load_mode full, on the
Glue catalog); `check_spark_connect` refuses the rest when definitions load, before any data
moves, saying why (README, "Spark: local, a cluster, or Spark Connect").
"""


import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pydantic import PrivateAttr

from mssql_starrocks.lib import iceberg as ice
from mssql_starrocks.lib import locks
from mssql_starrocks.lib.mssql import MssqlClient, MssqlSettings
from mssql_starrocks.lib.config import TABLES_FILE_ENV, load_plans, tables_file_path
from mssql_starrocks.lib.spark import (
    DEFAULT_JARS_DIR, PROJECT_ROOT, base_spark_conf, build_session, display_remote, jar_paths,
)
from mssql_starrocks.lib.starrocks import DEFAULT_LOAD_MAX_MB, StarRocksClient, StarRocksSettings


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


class MssqlResource(dg.ConfigurableResource):
    """The source SQL Server: JDBC settings for Spark's extract and a pymssql client."""

    host: str
    port: int = 1433
    database: str = "master"
    user: str
    password: str
    encrypt: bool = True
    trust_server_certificate: bool = False
    host_name_in_certificate: Optional[str] = None

    def settings(self) -> MssqlSettings:
        return MssqlSettings(
            host=self.host, port=int(self.port), database=self.database, user=self.user, password=self.password,
            encrypt=self.encrypt, trust_server_certificate=self.trust_server_certificate,
            host_name_in_certificate=self.host_name_in_certificate,
        )

    def get_client(self, database: str | None = None) -> MssqlClient:
        settings = self.settings()
        return MssqlClient(settings.with_database(database) if database else settings)


class StarRocksResource(dg.ConfigurableResource):
    """The target StarRocks cluster: FE query port (MySQL protocol) and FE HTTP port (Stream Load)."""

    host: str
    query_port: int = 9030
    http_port: int = 8030
    user: str
    password: str
    # JSON per Stream Load transaction (each Spark task sends its rows in loads of this size).
    load_max_mb: int = DEFAULT_LOAD_MAX_MB

    def settings(self) -> StarRocksSettings:
        return StarRocksSettings(host=self.host, query_port=int(self.query_port), http_port=int(self.http_port),
                                 user=self.user, password=self.password,
                                 load_max_bytes=int(self.load_max_mb) * 1024 * 1024)

    def get_client(self) -> StarRocksClient:
        return StarRocksClient(self.settings())


class IcebergResource(dg.ConfigurableResource):
    """The Iceberg catalog: AWS Glue + S3 in production, a local JDBC catalog by default."""

    catalog_type: str = "local"
    spark_catalog_name: str = "lake"
    warehouse: Optional[str] = None
    local_dir: str = str(PROJECT_ROOT / ".local" / "iceberg")
    aws_region: Optional[str] = None
    glue_endpoint: Optional[str] = None
    s3_endpoint: Optional[str] = None
    s3_path_style_access: bool = False

    def get_client(self) -> ice.IcebergSettings:
        return ice.IcebergSettings(
            catalog_type=self.catalog_type, spark_catalog_name=self.spark_catalog_name, warehouse=self.warehouse,
            local_dir=self.local_dir, aws_region=self.aws_region, glue_endpoint=self.glue_endpoint,
            s3_endpoint=self.s3_endpoint, s3_path_style_access=self.s3_path_style_access,
        )


class SparkResource(LazyPySparkResource):
    """dagster-pyspark's lazy session; the jars are listed (and checked, with the fix in the
    message) only when the session starts, so loading definitions does no I/O.

    `remote` is the Spark Connect URL, kept out of spark_config and given as an EnvVar, because
    a URL can carry a token (`sc://host:15002/;token=...`) that Dagit must not show."""

    remote: Optional[str] = None

    def _init_session(self) -> None:
        if self._spark_session is not None:
            return
        conf = {k: str(v) for k, v in self.spark_config.items()}
        if self.remote:
            conf["spark.remote"] = self.remote
        master = conf.get("spark.master", "")
        if not conf.get("spark.remote") and not master.startswith("sc://"):
            conf["spark.jars"] = ",".join(jar_paths(Path(conf.get("spark.jars", str(DEFAULT_JARS_DIR))).parent))
        self._spark_session = build_session(conf)


class TableLocksResource(dg.ConfigurableResource):
    """One run per table at a time (see lib/locks): a run's table locks live as long as the run,
    because in-process runs set this resource up once and tear it down when the run ends."""

    lock_dir: str
    timeout_s: float = 3600.0

    _locks: Optional[locks.RunLocks] = PrivateAttr(default=None)

    @contextmanager
    def yield_for_execution(self, context):
        self._locks = locks.RunLocks(self.lock_dir, self.timeout_s)
        try:
            yield self
        finally:
            self._locks.release_all()

    def hold(self, name: str, *, label: str, run_id: str, step: str, log) -> None:
        if self._locks is None:
            raise RuntimeError("TableLocksResource.hold outside a run")
        self._locks.hold(name, label=label, run_id=run_id, step=step, log=log)


def locks_from_env(env: dict[str, str] | None = None) -> TableLocksResource:
    e = os.environ if env is None else env
    local_dir = e.get("ICEBERG_LOCAL_DIR") or str(PROJECT_ROOT / ".local" / "iceberg")
    return TableLocksResource(lock_dir=e.get("MSSQL_STARROCKS_LOCK_DIR") or str(Path(local_dir) / "locks"),
                              timeout_s=float(e.get("MSSQL_STARROCKS_LOCK_TIMEOUT_S") or 3600))


def iceberg_from_env(env: dict[str, str] | None = None) -> IcebergResource:
    e = os.environ if env is None else env
    catalog_type = e.get("ICEBERG_CATALOG_TYPE", "local") or "local"
    endpoint = e.get("AWS_ENDPOINT_URL") or None
    return IcebergResource(
        catalog_type=catalog_type,
        spark_catalog_name=e.get("ICEBERG_SPARK_CATALOG_NAME") or "lake",
        warehouse=e.get("ICEBERG_WAREHOUSE") or None,
        local_dir=e.get("ICEBERG_LOCAL_DIR") or str(PROJECT_ROOT / ".local" / "iceberg"),
        aws_region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or None,
        glue_endpoint=e.get("AWS_ENDPOINT_URL_GLUE") or endpoint,
        s3_endpoint=e.get("AWS_ENDPOINT_URL_S3") or endpoint,
        # A custom endpoint (MinIO, moto, LocalStack) almost always needs path-style addressing.
        s3_path_style_access=_flag(e.get("S3_PATH_STYLE_ACCESS"), default=bool(endpoint)),
    )


def spark_remote_variable(env) -> str | None:
    """The variable naming a Spark Connect URL: SPARK_REMOTE, or SPARK_MASTER set to sc://..."""
    if env.get("SPARK_REMOTE"):
        return "SPARK_REMOTE"
    if (env.get("SPARK_MASTER") or "").startswith("sc://"):
        return "SPARK_MASTER"
    return None


def spark_config_from_env(iceberg: ice.IcebergSettings, env: dict[str, str] | None = None) -> dict[str, str]:
    """The session conf. A Spark Connect URL is not in it: SparkResource.remote carries it (as an
    EnvVar, so a token in it stays out of Dagit); code outside Dagster sets spark.remote itself."""
    e = os.environ if env is None else env
    remote_var = spark_remote_variable(e)
    master = e[remote_var] if remote_var else (e.get("SPARK_MASTER") or "local[*]")
    extra = json.loads(e["SPARK_CONF_JSON"]) if e.get("SPARK_CONF_JSON") else {}
    if e.get("SPARK_DRIVER_MEMORY"):
        extra.setdefault("spark.driver.memory", e["SPARK_DRIVER_MEMORY"])
    conf = base_spark_conf(
        master=master,
        shuffle_partitions=int(e.get("SPARK_SHUFFLE_PARTITIONS", "8")),
        extra_conf=extra,
        check_jars=False,
    )
    conf.update(iceberg.spark_conf())
    return conf


class SparkConnectUnsupported(RuntimeError):
    pass


def check_spark_connect(env) -> None:
    """With Spark Connect, refuse at load what it cannot run, naming each reason and the way out.

    * Tables loaded incrementally or by change tracking: their Iceberg commit is a MERGE INTO
      that must carry the run id and the extract's state in its snapshot summary. Iceberg 1.10 on
      Spark 3.5 takes snapshot properties for a SQL MERGE only from CommitMetadata, a call into
      the driver's JVM (Spark 3.5 passes no write options to MERGE, and the session setting
      spark.sql.iceberg.snapshot-property.* exists only for Spark 4); a Connect client has no JVM.
    * The local catalog: its SQLite file would be opened by the server, once per client session,
      and a session the server keeps blocks the next run's commits (SQLITE_BUSY).
    """
    variable = spark_remote_variable(env)
    if variable is None:
        return
    problems = []
    if (env.get("ICEBERG_CATALOG_TYPE") or "local") == "local":
        problems.append(
            "ICEBERG_CATALOG_TYPE=local: the local catalog (SQLite) would be opened by the Spark Connect server "
            "once per client session, and a session the server keeps open blocks the next run's commits "
            "(SQLITE_BUSY); use ICEBERG_CATALOG_TYPE=glue with ICEBERG_WAREHOUSE=s3://...")
    path = tables_file_path(env.get(TABLES_FILE_ENV))
    merged = [p for p in load_plans(path) if p.load_mode != "full"]
    if merged:
        listed = ", ".join(f"{p.spec.qualified} ({p.load_mode})" for p in merged)
        problems.append(
            f"{path}: table(s) {listed} merge their changes with MERGE INTO, whose Iceberg commit must carry the "
            "run's state in its snapshot summary; Iceberg 1.10 on Spark 3.5 takes such properties for MERGE only "
            "through a call into the driver's JVM (CommitMetadata), which a Spark Connect client does not have. "
            "Give them load_mode full, or run them with SPARK_MASTER (local[*], spark://, yarn, k8s://)")
    if problems:
        raise SparkConnectUnsupported(
            f"Spark Connect ({variable}={display_remote(env[variable])}) runs tables with load_mode full on the "
            "Glue catalog only:\n  - " + "\n  - ".join(problems))


REQUIRED_SETTINGS = ("MSSQL_HOST", "MSSQL_USER", "MSSQL_PASSWORD", "STARROCKS_HOST", "STARROCKS_USER",
                     "STARROCKS_PASSWORD")


class MissingSettingsError(RuntimeError):
    pass


def check_settings(env) -> None:
    """Refuse to load definitions without the connection settings every run needs."""
    missing = [name for name in REQUIRED_SETTINGS if not env.get(name)]
    if (env.get("ICEBERG_CATALOG_TYPE") or "local") == "glue" and not env.get("ICEBERG_WAREHOUSE"):
        missing.append("ICEBERG_WAREHOUSE")
    if missing:
        raise MissingSettingsError(
            f"missing environment variable(s): {', '.join(missing)}. Set them in .env in the project directory "
            "(see .env.example), or run `make demo` / `python -m mssql_starrocks_devservers up` for local stand-ins."
        )


def migration_resources(env: dict[str, str] | None = None) -> dict[str, object]:
    """The resources for the current environment (production settings come from `.env`)."""
    e = os.environ if env is None else env
    check_settings(e)
    check_spark_connect(e)
    iceberg = iceberg_from_env(e)
    remote_var = spark_remote_variable(e)
    return {
        "mssql": MssqlResource(
            host=dg.EnvVar("MSSQL_HOST"),
            port=int(e.get("MSSQL_PORT", "1433") or 1433),
            database=e.get("MSSQL_DATABASE", "master") or "master",
            user=dg.EnvVar("MSSQL_USER"),
            password=dg.EnvVar("MSSQL_PASSWORD"),
            # Production default as in the seed: encrypted and the certificate checked.
            encrypt=_flag(e.get("MSSQL_ENCRYPT"), default=True),
            trust_server_certificate=_flag(e.get("MSSQL_TRUST_SERVER_CERTIFICATE"), default=False),
            host_name_in_certificate=e.get("MSSQL_HOST_NAME_IN_CERTIFICATE") or None,
        ),
        "starrocks": StarRocksResource(
            host=dg.EnvVar("STARROCKS_HOST"),
            query_port=int(e.get("STARROCKS_QUERY_PORT", "9030") or 9030),
            http_port=int(e.get("STARROCKS_HTTP_PORT", "8030") or 8030),
            user=dg.EnvVar("STARROCKS_USER"),
            password=dg.EnvVar("STARROCKS_PASSWORD"),
            load_max_mb=_load_max_mb(e),
        ),
        "iceberg": iceberg,
        "locks": locks_from_env(e),
        "spark": SparkResource(spark_config=spark_config_from_env(iceberg.get_client(), e),
                               remote=dg.EnvVar(remote_var) if remote_var else None),
    }


@dg.definitions
def defs() -> dg.Definitions:
    # One process per run shares one Spark session across the run's steps (a JVM per step would
    # cost seconds each); Spark parallelises inside each step.
    return dg.Definitions(resources=migration_resources(), executor=dg.in_process_executor)


def mssql_settings_from_env(env: dict[str, str] | None = None) -> MssqlSettings:
    """The SQL Server settings outside Dagster (the CLI), from the same variables as the resource."""
    e = os.environ if env is None else env
    return MssqlSettings(
        host=e["MSSQL_HOST"], port=int(e.get("MSSQL_PORT", "1433") or 1433),
        database=e.get("MSSQL_DATABASE", "master") or "master", user=e["MSSQL_USER"], password=e["MSSQL_PASSWORD"],
        encrypt=_flag(e.get("MSSQL_ENCRYPT"), default=True),
        trust_server_certificate=_flag(e.get("MSSQL_TRUST_SERVER_CERTIFICATE"), default=False),
        host_name_in_certificate=e.get("MSSQL_HOST_NAME_IN_CERTIFICATE") or None,
    )


def starrocks_settings_from_env(env: dict[str, str] | None = None) -> StarRocksSettings:
    e = os.environ if env is None else env
    return StarRocksSettings(host=e["STARROCKS_HOST"], query_port=int(e.get("STARROCKS_QUERY_PORT", "9030") or 9030),
                             http_port=int(e.get("STARROCKS_HTTP_PORT", "8030") or 8030), user=e["STARROCKS_USER"],
                             password=e["STARROCKS_PASSWORD"], load_max_bytes=_load_max_mb(e) * 1024 * 1024)


def _load_max_mb(e) -> int:
    text = e.get("STARROCKS_LOAD_MAX_MB") or str(DEFAULT_LOAD_MAX_MB)
    if not text.isdigit() or not 1 <= int(text) <= 10240:
        raise ValueError(f"STARROCKS_LOAD_MAX_MB: '{text}' is not a size in MiB between 1 and 10240")
    return int(text)
