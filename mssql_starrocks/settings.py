"""Settings from the environment (`.env`): the one place that reads and parses the variables.

Used by the Dagster resources (defs/migration/resources.py) and the CLI alike. Connection
settings every run needs are listed once, in REQUIRED; loading definitions needs none of them
(resources take them as `dagster.EnvVar`s, resolved when a run starts), and `missing` names the
ones a run or a CLI command would lack.
"""

from __future__ import annotations

import json
import os
from typing import Mapping

from mssql_starrocks.lake.iceberg import DEFAULT_LOCAL_DIR, IcebergSettings
from mssql_starrocks.source.mssql import MssqlSettings
from mssql_starrocks.target.starrocks import DEFAULT_LOAD_MAX_MB, StarRocksSettings

Env = Mapping[str, str]

MSSQL_REQUIRED = ("MSSQL_HOST", "MSSQL_USER", "MSSQL_PASSWORD")
STARROCKS_REQUIRED = ("STARROCKS_HOST", "STARROCKS_USER", "STARROCKS_PASSWORD")
REQUIRED = MSSQL_REQUIRED + STARROCKS_REQUIRED


class MissingSettingsError(RuntimeError):
    """Settings a command cannot do without; `reason` names them, the message adds what to do."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.reason = f"missing environment variable(s): {', '.join(self.names)}"
        super().__init__(
            f"{self.reason}. Set them in .env in the project directory (see .env.example), or run `make demo` / "
            "`python -m mssql_starrocks_devservers up` for local stand-ins."
        )


def _env(env: Env | None) -> Env:
    return os.environ if env is None else env


def flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def catalog_type(env: Env | None = None) -> str:
    return _env(env).get("ICEBERG_CATALOG_TYPE", "local") or "local"


def missing(names: tuple[str, ...], env: Env | None = None) -> list[str]:
    e = _env(env)
    return [name for name in names if not e.get(name)]


def require(names: tuple[str, ...], env: Env | None = None) -> None:
    """Refuse, in one message naming every missing variable, settings a command cannot do without."""
    absent = missing(names, env)
    if absent:
        raise MissingSettingsError(absent)


# --- values with their defaults (no secrets here: those are read by the resources as EnvVars) --
def mssql_options(env: Env | None = None) -> dict:
    """SQL Server settings besides host, user and password."""
    e = _env(env)
    return dict(
        port=int(e.get("MSSQL_PORT", "1433") or 1433),
        database=e.get("MSSQL_DATABASE", "master") or "master",
        # Production default as in the seed: encrypted and the certificate checked.
        encrypt=flag(e.get("MSSQL_ENCRYPT"), default=True),
        trust_server_certificate=flag(e.get("MSSQL_TRUST_SERVER_CERTIFICATE"), default=False),
        host_name_in_certificate=e.get("MSSQL_HOST_NAME_IN_CERTIFICATE") or None,
        # PEM file of the CA(s) to trust for SQL Server's certificate (default: the system's).
        ca_file=e.get("MSSQL_CA_FILE") or None,
    )


def load_max_mb(env: Env | None = None) -> int:
    text = _env(env).get("STARROCKS_LOAD_MAX_MB") or str(DEFAULT_LOAD_MAX_MB)
    if not text.isdigit() or not 1 <= int(text) <= 10240:
        raise ValueError(f"STARROCKS_LOAD_MAX_MB: '{text}' is not a size in MiB between 1 and 10240")
    return int(text)


def starrocks_options(env: Env | None = None) -> dict:
    """StarRocks settings besides host, user and password."""
    e = _env(env)
    return dict(
        query_port=int(e.get("STARROCKS_QUERY_PORT", "9030") or 9030),
        http_port=int(e.get("STARROCKS_HTTP_PORT", "8030") or 8030),
        load_max_mb=load_max_mb(e),
        iceberg_catalog=starrocks_iceberg_catalog(e),
    )


def starrocks_iceberg_catalog(env: Env | None = None) -> str | None:
    """The Iceberg external catalog StarRocks reads the lake through (tables with load_path catalog)."""
    return _env(env).get("STARROCKS_ICEBERG_CATALOG") or None


def iceberg_options(env: Env | None = None) -> dict:
    """The Iceberg catalog's settings (IcebergSettings' fields), ICEBERG_WAREHOUSE included if set."""
    e = _env(env)
    endpoint = e.get("AWS_ENDPOINT_URL") or None
    return dict(
        catalog_type=catalog_type(e),
        spark_catalog_name=e.get("ICEBERG_SPARK_CATALOG_NAME") or "lake",
        warehouse=e.get("ICEBERG_WAREHOUSE") or None,
        local_dir=local_dir(e),
        aws_region=e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or None,
        glue_endpoint=e.get("AWS_ENDPOINT_URL_GLUE") or endpoint,
        s3_endpoint=e.get("AWS_ENDPOINT_URL_S3") or endpoint,
        # A custom endpoint (MinIO, moto, LocalStack) almost always needs path-style addressing.
        s3_path_style_access=flag(e.get("S3_PATH_STYLE_ACCESS"), default=bool(endpoint)),
    )


def local_dir(env: Env | None = None) -> str:
    return _env(env).get("ICEBERG_LOCAL_DIR") or DEFAULT_LOCAL_DIR


def lock_options(env: Env | None = None) -> dict:
    e = _env(env)
    return dict(lock_dir=e.get("MSSQL_STARROCKS_LOCK_DIR") or os.path.join(local_dir(e), "locks"),
                timeout_s=float(e.get("MSSQL_STARROCKS_LOCK_TIMEOUT_S") or 3600))


# Steps of different tables a run takes at once (threads of its one process sharing its Spark
# session). A small table's step costs about as much CPU (Dagster, the Spark driver) as it waits,
# so beyond the cores of a small machine more at once only adds memory: 2, for 2 cores.
CONCURRENCY_ENV = "MSSQL_STARROCKS_CONCURRENCY"
# 1 until steps side by side pass the whole suite: a full run once saw a healthy table's
# StarRocks checks find no table with 4 at once (README: Several tables at once).
DEFAULT_CONCURRENCY = 1


def concurrency(env: Env | None = None) -> int:
    """MSSQL_STARROCKS_CONCURRENCY: steps a run takes at once (default 1 = one after another)."""
    value = (_env(env).get(CONCURRENCY_ENV) or "").strip()
    if not value:
        return DEFAULT_CONCURRENCY
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{CONCURRENCY_ENV}={value!r} is not a whole number of at least 1: set it to how many "
                         f"steps a run may take at once (default {DEFAULT_CONCURRENCY}; 1 runs them one by one)")
    return int(value)


def spark_remote_variable(env: Env | None = None) -> str | None:
    """The variable naming a Spark Connect URL: SPARK_REMOTE, or SPARK_MASTER set to sc://..."""
    e = _env(env)
    if e.get("SPARK_REMOTE"):
        return "SPARK_REMOTE"
    if (e.get("SPARK_MASTER") or "").startswith("sc://"):
        return "SPARK_MASTER"
    return None


def spark_conf(env: Env | None = None) -> dict[str, str]:
    """The session conf before the catalog's settings. A Spark Connect URL is not in it: the
    Spark resource carries it as an EnvVar (a token in it stays out of Dagit); code outside
    Dagster sets spark.remote itself."""
    from mssql_starrocks.lib.spark import base_spark_conf

    e = _env(env)
    remote_var = spark_remote_variable(e)
    master = e[remote_var] if remote_var else (e.get("SPARK_MASTER") or "local[*]")
    extra = json.loads(e["SPARK_CONF_JSON"]) if e.get("SPARK_CONF_JSON") else {}
    if e.get("SPARK_DRIVER_MEMORY"):
        extra.setdefault("spark.driver.memory", e["SPARK_DRIVER_MEMORY"])
    return base_spark_conf(master=master, shuffle_partitions=int(e.get("SPARK_SHUFFLE_PARTITIONS", "8")),
                           extra_conf=extra, check_jars=False)


# --- complete settings, for code outside Dagster (the CLI, benchmarks, tests) -----------------
def mssql_settings(env: Env | None = None) -> MssqlSettings:
    e = _env(env)
    require(MSSQL_REQUIRED, e)
    return MssqlSettings(host=e["MSSQL_HOST"], user=e["MSSQL_USER"], password=e["MSSQL_PASSWORD"],
                         **mssql_options(e))


def starrocks_settings(env: Env | None = None) -> StarRocksSettings:
    e = _env(env)
    require(STARROCKS_REQUIRED, e)
    options = starrocks_options(e)
    return StarRocksSettings(host=e["STARROCKS_HOST"], user=e["STARROCKS_USER"], password=e["STARROCKS_PASSWORD"],
                             query_port=options["query_port"], http_port=options["http_port"],
                             load_max_bytes=options["load_max_mb"] * 1024 * 1024,
                             iceberg_catalog=options["iceberg_catalog"])


def iceberg_settings(env: Env | None = None) -> IcebergSettings:
    return IcebergSettings(**iceberg_options(env))
