"""Resources: thin typed wrappers over the real clients, with their settings from the environment.

Every connection setting is a `dagster.EnvVar`, resolved when a run starts: definitions load with
only the tables file, Dagit shows variables' names, never their values, and a run without them
fails naming each missing variable. The values and their defaults are read in one place,
`mssql_starrocks.settings`; the Iceberg catalog is local (a JDBC catalog on SQLite under
`.local/iceberg`) unless `ICEBERG_CATALOG_TYPE=glue`, and Spark runs `local[*]` unless
`SPARK_MASTER` or `SPARK_REMOTE` (Spark Connect) names another. Nothing here connects to
anything at load time; with Spark Connect, tables it cannot run are refused at load
(lib/spark.check_spark_connect).
"""


import os
from contextlib import contextmanager
from typing import Optional

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pydantic import PrivateAttr

from mssql_starrocks import settings as env_settings
from mssql_starrocks.lake import iceberg as ice
from mssql_starrocks.defs.migration.executor import threaded_executor
from mssql_starrocks.lib import locks
from mssql_starrocks.source.mssql import MssqlClient, MssqlSettings
from mssql_starrocks.lib.spark import build_session, check_spark_connect, with_jars
from mssql_starrocks.target import load_paths
from mssql_starrocks.target.starrocks import DEFAULT_LOAD_MAX_MB, StarRocksClient, StarRocksSettings
from mssql_starrocks.lib.tables import configured_tables


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
    ca_file: Optional[str] = None

    def settings(self) -> MssqlSettings:
        return MssqlSettings(
            host=self.host, port=int(self.port), database=self.database, user=self.user, password=self.password,
            encrypt=self.encrypt, trust_server_certificate=self.trust_server_certificate,
            host_name_in_certificate=self.host_name_in_certificate, ca_file=self.ca_file,
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
    # The Iceberg external catalog StarRocks reads the lake through (starrocks.load_path catalog).
    iceberg_catalog: Optional[str] = None

    def settings(self) -> StarRocksSettings:
        return StarRocksSettings(host=self.host, query_port=int(self.query_port), http_port=int(self.http_port),
                                 user=self.user, password=self.password,
                                 load_max_bytes=int(self.load_max_mb) * 1024 * 1024,
                                 iceberg_catalog=self.iceberg_catalog)

    def get_client(self) -> StarRocksClient:
        return StarRocksClient(self.settings())


class IcebergResource(dg.ConfigurableResource):
    """The Iceberg catalog: AWS Glue + S3 in production, a local JDBC catalog by default."""

    catalog_type: str = "local"
    spark_catalog_name: str = "lake"
    warehouse: Optional[str] = None
    local_dir: str = ice.DEFAULT_LOCAL_DIR
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
    # The catalog the session registers (its settings are resolved when the run starts).
    iceberg: Optional[IcebergResource] = None

    def _init_session(self) -> None:
        if self._spark_session is not None:
            return
        conf = {k: str(v) for k, v in self.spark_config.items()}
        if self.iceberg is not None:
            conf.update(self.iceberg.get_client().spark_conf())
        if self.remote:
            conf["spark.remote"] = self.remote
        self._spark_session = build_session(with_jars(conf))


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


def migration_resources(env: dict[str, str] | None = None) -> dict[str, object]:
    """The resources for the current environment (production settings come from `.env`). Reads
    only optional, non-secret settings now; the rest are EnvVars resolved when a run starts."""
    e = os.environ if env is None else env
    iceberg_options = env_settings.iceberg_options(e)
    if iceberg_options["catalog_type"] == "glue" and not iceberg_options["warehouse"]:
        iceberg_options["warehouse"] = dg.EnvVar("ICEBERG_WAREHOUSE")  # a run without it fails naming it
    iceberg = IcebergResource(**iceberg_options)
    remote_var = env_settings.spark_remote_variable(e)
    return {
        "mssql": MssqlResource(host=dg.EnvVar("MSSQL_HOST"), user=dg.EnvVar("MSSQL_USER"),
                               password=dg.EnvVar("MSSQL_PASSWORD"), **env_settings.mssql_options(e)),
        "starrocks": StarRocksResource(host=dg.EnvVar("STARROCKS_HOST"), user=dg.EnvVar("STARROCKS_USER"),
                                       password=dg.EnvVar("STARROCKS_PASSWORD"), **env_settings.starrocks_options(e)),
        "iceberg": iceberg,
        "locks": TableLocksResource(**env_settings.lock_options(e)),
        "spark": SparkResource(spark_config=env_settings.spark_conf(e), iceberg=iceberg,
                               remote=dg.EnvVar(remote_var) if remote_var else None),
    }


@dg.definitions
def defs() -> dg.Definitions:
    # One process per run shares one Spark session across the run's steps (a JVM per step would
    # cost seconds each); several tables' steps run at once in its threads (executor.py).
    plans = configured_tables()
    check_spark_connect(plans)
    load_paths.refuse_unusable(plans, iceberg_catalog_type=env_settings.catalog_type(),
                               starrocks_catalog=env_settings.starrocks_iceberg_catalog())
    return dg.Definitions(resources=migration_resources(), executor=threaded_executor)
