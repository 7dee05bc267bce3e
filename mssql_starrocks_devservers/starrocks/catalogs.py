"""External catalogs of the StarRocks stand-in: Iceberg catalogs on AWS Glue or REST, read with pyiceberg.

StarRocks 3.3's "Iceberg catalog" page: `CREATE EXTERNAL CATALOG` with `"type" = "iceberg"` and a
metastore (`iceberg.catalog.type` = `glue` | `rest`, ...), `SHOW CATALOGS`, `SHOW CREATE CATALOG`
(credentials masked), `SET CATALOG`, `DROP CATALOG`, and `catalog.db.table` names in queries. The
definitions are kept in the stand-in's DuckDB file (they survive a restart, as a FE's do). Reading a
table loads its current snapshot through pyiceberg (position delete files applied; equality deletes
refused loudly, as pyiceberg cannot apply them) and hands it to DuckDB as an Arrow table.

Where real StarRocks reaches AWS (no `aws.glue.endpoint` / `aws.s3.endpoint` given), the stand-in
reaches the S3 + Glue stand-in it was started with (`--aws-endpoint-url`): that is its AWS.
Table metadata is cached per catalog as StarRocks does (the Iceberg catalog page: data committed
within the refresh interval may not be visible) until `REFRESH EXTERNAL TABLE` or the cache TTL.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from mssql_starrocks_devservers.starrocks.engine import META, Column, Engine, SrError
from mssql_starrocks_devservers.starrocks.types import MAX_VARCHAR

DEFAULT_CATALOG = "default_catalog"
INTERNAL_COMMENT = "An internal catalog contains this cluster's self-managed tables."
NOT_SUPPORTED_CODE = 1235
UNKNOWN_CATALOG_CODE = 5078  # ERR_BAD_CATALOG_ERROR "Unknown catalog '%s'"
CATALOG_EXISTS_CODE = 5514  # ERR_CATALOG_EXISTED_ERROR "Catalog '%s' already exists"
# Catalog types of StarRocks 3.3 (CREATE EXTERNAL CATALOG page) the stand-in does not implement.
OTHER_CATALOG_TYPES = {"hive", "hudi", "deltalake", "jdbc", "elasticsearch", "es", "paimon", "unified", "odps",
                       "kudu"}
METASTORES = {"glue", "rest"}
OTHER_METASTORES = {"hive", "hadoop", "jdbc", "custom"}
# Properties whose values SHOW CREATE CATALOG anonymises ("AK******M4").
CREDENTIALS = ("access_key", "secret_key", "session_token", "credential", "token", "password",
               "shared_key", "sas_token", "private_key")
# The Iceberg catalog page: "By default, data updated within 10 minutes is not visible" (the metadata
# refresh interval, background_refresh_metadata_interval_millis = 600000). iceberg_table_cache_ttl_sec
# overrides it; enable_iceberg_metadata_cache = false turns the cache off.
DEFAULT_CACHE_TTL_S = 600.0
CATALOG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,1022}")


def not_supported(what: str) -> SrError:
    return SrError(f"not supported by the stand-in: {what}", NOT_SUPPORTED_CODE)


def unknown_catalog(name: str) -> SrError:
    return SrError(f"Unknown catalog '{name}'", UNKNOWN_CATALOG_CODE)


def mask(value: str) -> str:
    """A credential as SHOW CREATE CATALOG prints it: its first and last two characters."""
    return value[:2] + "******" + value[-2:] if len(value) > 4 else "******"


@dataclass
class ExternalCatalog:
    name: str
    properties: dict[str, str]
    comment: str | None = None

    @property
    def metastore(self) -> str:
        return self.properties["iceberg.catalog.type"].lower()

    def show_create(self) -> str:
        """SHOW CREATE CATALOG's statement, credentials anonymised."""
        props = []
        for key, value in self.properties.items():
            secret = any(key.lower().endswith(c) for c in CREDENTIALS)
            props.append(f'"{key}"  =  "{mask(value) if secret else value}"')
        comment = f'\ncomment "{self.comment}"' if self.comment is not None else ""
        return f"CREATE EXTERNAL CATALOG `{self.name}`{comment}\nPROPERTIES (" + ",\n".join(props) + "\n)"


def validate(name: str, properties: dict[str, str]) -> None:
    """The checks CREATE EXTERNAL CATALOG makes (Iceberg catalog page, "Parameters")."""
    if not CATALOG_NAME.fullmatch(name):
        raise SrError(f"Getting analyzing error. Detail message: Incorrect catalog name '{name}': it must start with "
                      "a letter and contain only letters, digits and underscores (at most 1023 characters).", 1064)
    kind = (properties.get("type") or "").lower()
    if not kind:
        raise SrError("Getting analyzing error. Detail message: Missing properties 'type' of the catalog.", 1064)
    if kind in OTHER_CATALOG_TYPES:
        raise not_supported(f'CREATE EXTERNAL CATALOG with "type" = "{kind}" (only "iceberg" is implemented)')
    if kind != "iceberg":
        raise SrError(f"Getting analyzing error. Detail message: [type : {properties['type']}] is not supported.",
                      1064)
    metastore = (properties.get("iceberg.catalog.type") or "").lower()
    if not metastore:
        raise SrError("Can't find iceberg native catalog type. You must specify the 'iceberg.catalog.type' property "
                      "when creating an iceberg catalog in the catalog properties", 1064)
    if metastore in OTHER_METASTORES:
        raise not_supported(f'Iceberg catalog with "iceberg.catalog.type" = "{metastore}" (only "glue" and "rest")')
    if metastore not in METASTORES:
        raise SrError("Property iceberg.catalog.type is missing or not supported now.", 1064)
    if metastore == "glue":
        _require(properties, "aws.glue.region")
        _require_credentials(properties, "aws.glue")
    else:
        _require(properties, "iceberg.catalog.uri")
    if any(k.startswith("aws.s3.") for k in properties):
        _require_credentials(properties, "aws.s3")
    if metastore == "glue" and not any(k in properties for k in ("aws.s3.region", "aws.s3.endpoint")):
        raise SrError("Getting analyzing error. Detail message: an Iceberg catalog on AWS Glue reads its data files "
                      "from S3: set \"aws.s3.region\" (and \"aws.s3.use_instance_profile\" or \"aws.s3.access_key\"/"
                      "\"aws.s3.secret_key\"), or \"aws.s3.endpoint\" for S3-compatible storage.", 1064)


def _require(properties: dict[str, str], key: str) -> None:
    if not properties.get(key):
        raise SrError(f"Getting analyzing error. Detail message: Missing required property \"{key}\".", 1064)


def _require_credentials(properties: dict[str, str], prefix: str) -> None:
    """`<prefix>.use_instance_profile` = true, or false with an access key and a secret key."""
    flag = properties.get(f"{prefix}.use_instance_profile", "false").lower()
    if flag not in ("true", "false"):
        raise SrError(f"Getting analyzing error. Detail message: \"{prefix}.use_instance_profile\" must be true or "
                      f"false, got \"{flag}\".", 1064)
    if flag == "false" and not (properties.get(f"{prefix}.access_key") and properties.get(f"{prefix}.secret_key")):
        raise SrError(f"Getting analyzing error. Detail message: \"{prefix}.use_instance_profile\" is false: set "
                      f"\"{prefix}.access_key\" and \"{prefix}.secret_key\", or set it to true.", 1064)


# --- Iceberg -> StarRocks types ------------------------------------------------------------
def starrocks_type(iceberg_type) -> str | None:
    """The StarRocks type of an Iceberg column (3.3's ColumnTypeConverter.fromIcebergType); None where
    StarRocks has the type but the stand-in does not (ARRAY/MAP/STRUCT), "unknown" where StarRocks has none."""
    from pyiceberg import types as it

    simple = {it.BooleanType: "BOOLEAN", it.IntegerType: "INT", it.LongType: "BIGINT", it.FloatType: "FLOAT",
              it.DoubleType: "DOUBLE", it.DateType: "DATE", it.TimestampType: "DATETIME",
              it.TimestamptzType: "DATETIME", it.StringType: f"VARCHAR({MAX_VARCHAR})",
              it.UUIDType: f"VARCHAR({MAX_VARCHAR})", it.BinaryType: "VARBINARY"}
    for cls, name in simple.items():
        if isinstance(iceberg_type, cls):
            return name
    if isinstance(iceberg_type, it.DecimalType):
        return f"DECIMAL({iceberg_type.precision},{iceberg_type.scale})"
    if isinstance(iceberg_type, (it.ListType, it.MapType, it.StructType)):
        return None
    return "unknown"  # time, fixed and newer types: StarRocks 3.3 cannot read them


@dataclass
class LoadedTable:
    """One Iceberg table as a statement reads it: its schema in StarRocks terms and its current snapshot."""

    catalog: str
    database: str
    name: str
    table: Any  # pyiceberg Table
    columns: list[Column]  # every column; an unreadable one's type is its Iceberg type, as DESC shows it
    unreadable: dict[str, str]  # column -> why the stand-in cannot read it
    loaded_at: float = field(default_factory=time.monotonic)

    def arrow(self, time_zone: str):
        """The rows of the current snapshot (delete files applied), typed as StarRocks reads them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        readable = [c.name for c in self.columns if c.name not in self.unreadable]
        try:
            data = self.table.scan(selected_fields=tuple(readable) or ("*",)).to_arrow()
        except (NotImplementedError, ValueError) as exc:
            if "equality delete" in str(exc):
                raise not_supported(f"Iceberg equality delete files ({self.database}.{self.name}); pyiceberg "
                                    "applies position deletes only") from None
            raise
        columns, names = [], []
        for name in readable:
            col = data.column(name)
            if pa.types.is_timestamp(col.type) and col.type.tz is not None:
                # TIMESTAMPTZ is DATETIME in the session's time zone.
                col = pc.local_timestamp(col.cast(pa.timestamp("us", tz=_zone(time_zone))))
            elif isinstance(col.type, pa.ExtensionType) or pa.types.is_fixed_size_binary(col.type):
                col = pa.array([_uuid_text(v) for v in col.to_pylist()], pa.string())  # UUID: VARCHAR
            columns.append(col)
            names.append(name)
        return pa.table(columns, names=names) if names else data


def _uuid_text(value) -> str | None:
    """A UUID as its canonical text (pyarrow gives uuid.UUID or its 16 bytes)."""
    if value is None:
        return None
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(bytes=bytes(value)))


def _zone(time_zone: str) -> str:
    if re.fullmatch(r"[+-]\d{2}:\d{2}", time_zone or ""):
        return time_zone
    if (time_zone or "").upper() in ("SYSTEM", ""):
        return "UTC"
    return time_zone


class Catalogs:
    """The cluster's external catalogs (definitions in DuckDB) and their cached table metadata."""

    def __init__(self, engine: Engine, aws_endpoint_url: str | None = None):
        self.engine = engine
        self.aws_endpoint_url = aws_endpoint_url
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._cache: dict[tuple[str, str, str], LoadedTable] = {}
        with engine.write_lock:
            engine.db.execute(f"CREATE TABLE IF NOT EXISTS {META}.catalogs (name VARCHAR PRIMARY KEY, "
                              "comment VARCHAR, properties VARCHAR)")

    # --- definitions ----------------------------------------------------------------------
    def all(self) -> list[ExternalCatalog]:
        rows = self.engine.cursor().execute(f"SELECT name, comment, properties FROM {META}.catalogs ORDER BY name")
        return [ExternalCatalog(r[0], json.loads(r[2]), r[1]) for r in rows.fetchall()]

    def get(self, name: str) -> ExternalCatalog | None:
        rows = self.engine.cursor().execute(f"SELECT name, comment, properties FROM {META}.catalogs WHERE name = ?",
                                            [name]).fetchall()
        return ExternalCatalog(rows[0][0], json.loads(rows[0][2]), rows[0][1]) if rows else None

    def exists(self, name: str) -> bool:
        return name == DEFAULT_CATALOG or self.get(name) is not None

    def require(self, name: str) -> ExternalCatalog:
        catalog = self.get(name)
        if catalog is None:
            raise unknown_catalog(name)
        return catalog

    def create(self, name: str, properties: dict[str, str], comment: str | None, if_not_exists: bool) -> None:
        with self.engine.write_lock:
            if self.exists(name):
                if if_not_exists:
                    return
                raise SrError(f"Catalog '{name}' already exists", CATALOG_EXISTS_CODE)
            validate(name, properties)
            self.engine.db.execute(f"INSERT INTO {META}.catalogs VALUES (?, ?, ?)",
                                   [name, comment, json.dumps(properties)])

    def drop(self, name: str, if_exists: bool) -> None:
        if name == DEFAULT_CATALOG:
            raise SrError("Getting analyzing error. Detail message: Can't drop the default_catalog: it is the "
                          "internal catalog.", 1064)
        with self.engine.write_lock:
            if self.get(name) is None:
                if if_exists:
                    return
                raise unknown_catalog(name)
            self.engine.db.execute(f"DELETE FROM {META}.catalogs WHERE name = ?", [name])
        with self._lock:
            self._clients.pop(name, None)
            for key in [k for k in self._cache if k[0] == name]:
                del self._cache[key]

    # --- reading --------------------------------------------------------------------------
    def _iceberg(self, catalog: ExternalCatalog):
        """The pyiceberg catalog behind an external catalog (built at first use, as StarRocks does)."""
        with self._lock:
            client = self._clients.get(catalog.name)
        if client is not None:
            return client
        p = catalog.properties
        io = self._s3_properties(p)
        if catalog.metastore == "glue":
            import boto3
            from botocore.config import Config
            from pyiceberg.catalog.glue import GlueCatalog

            endpoint = p.get("aws.glue.endpoint") or self.aws_endpoint_url
            if not endpoint:
                raise not_supported("AWS Glue without \"aws.glue.endpoint\": the stand-in reaches AWS only through "
                                    "its S3 + Glue stand-in (start it with --aws-endpoint-url)")
            key, secret = self._keys(p, "aws.glue")
            glue = boto3.client("glue", endpoint_url=_with_scheme(endpoint), region_name=p["aws.glue.region"],
                                aws_access_key_id=key, aws_secret_access_key=secret,
                                config=Config(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 2}))
            client = GlueCatalog(catalog.name, client=glue, **io)
        else:
            from pyiceberg.catalog.rest import RestCatalog

            rest = {"uri": p["iceberg.catalog.uri"], **io}
            for ours, theirs in (("iceberg.catalog.warehouse", "warehouse"), ("iceberg.catalog.oauth2.token", "token"),
                                 ("iceberg.catalog.oauth2.credential", "credential"),
                                 ("iceberg.catalog.credential", "credential"),
                                 ("iceberg.catalog.oauth2.scope", "scope"),
                                 ("iceberg.catalog.oauth2.server-uri", "oauth2-server-uri")):
                if p.get(ours):
                    rest[theirs] = p[ours]
            client = self._reach(catalog, lambda: RestCatalog(catalog.name, **rest))
        with self._lock:
            self._clients[catalog.name] = client
        return client

    def _keys(self, p: dict[str, str], prefix: str) -> tuple[str, str]:
        if p.get(f"{prefix}.use_instance_profile", "false").lower() == "true" or not p.get(f"{prefix}.access_key"):
            # The instance's credentials: the stand-in process's, or any (the S3 + Glue stand-in accepts every key).
            return (os.environ.get("AWS_ACCESS_KEY_ID", "standin-instance-profile"),
                    os.environ.get("AWS_SECRET_ACCESS_KEY", "standin-instance-profile"))
        return p[f"{prefix}.access_key"], p[f"{prefix}.secret_key"]

    def _s3_properties(self, p: dict[str, str]) -> dict[str, str]:
        endpoint = p.get("aws.s3.endpoint") or self.aws_endpoint_url
        if not endpoint:
            raise not_supported("S3 without \"aws.s3.endpoint\": the stand-in reaches AWS only through its "
                                "S3 + Glue stand-in (start it with --aws-endpoint-url)")
        if p.get("aws.s3.endpoint") and p.get("aws.s3.enable_ssl", "true").lower() == "false":
            endpoint = _with_scheme(endpoint, "http")
        key, secret = self._keys(p, "aws.s3")
        return {"s3.endpoint": _with_scheme(endpoint), "s3.region": p.get("aws.s3.region") or p.get("aws.glue.region")
                or "us-east-1", "s3.access-key-id": key, "s3.secret-access-key": secret,
                # The stand-in's S3 answers path-style requests (aws.s3.enable_path_style_access).
                "s3.force-virtual-addressing": "false"}

    def _reach(self, catalog: ExternalCatalog, call):
        """Run a metastore call; a metastore the FE cannot reach is one clear error naming it."""
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        try:
            return call()
        except (NoSuchNamespaceError, NoSuchTableError, SrError):
            raise
        except Exception as exc:  # noqa: BLE001 - botocore, requests, pyiceberg: all "cannot reach"
            p = catalog.properties
            where = (f"AWS Glue endpoint {p.get('aws.glue.endpoint') or self.aws_endpoint_url}"
                     if catalog.metastore == "glue" else f"REST catalog {p.get('iceberg.catalog.uri')}")
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SrError(f"Getting analyzing error. Detail message: Failed to access the metastore of catalog "
                          f"'{catalog.name}' ({where}): {text}", 1064) from None

    def databases(self, name: str) -> list[str]:
        catalog = self.require(name)
        client = self._iceberg(catalog)
        namespaces = self._reach(catalog, client.list_namespaces)
        return sorted(".".join(ns) for ns in namespaces)

    def tables(self, name: str, database: str) -> list[str]:
        from pyiceberg.exceptions import NoSuchNamespaceError

        catalog = self.require(name)
        client = self._iceberg(catalog)
        try:
            listed = self._reach(catalog, lambda: client.list_tables(database))
        except NoSuchNamespaceError:
            raise SrError(f"Unknown database '{database}'", 1049) from None
        return sorted(t[-1] for t in listed)

    def load(self, name: str, database: str, table: str, fresh: bool = False) -> LoadedTable:
        """The table's metadata, from the cache unless it is older than the catalog's TTL (or `fresh`)."""
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        catalog = self.require(name)
        key = (name, database, table)
        ttl = _cache_ttl(catalog.properties)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and not fresh and time.monotonic() - cached.loaded_at < ttl:
            return cached
        client = self._iceberg(catalog)
        try:
            try:
                loaded = self._reach(catalog, lambda: client.load_table((database, table)))
            except NoSuchTableError:
                self._reach(catalog, lambda: client.load_namespace_properties(database))  # the database first
                raise SrError(f"Getting analyzing error. Detail message: Unknown table '{name}.{database}.{table}'.",
                              1051) from None
        except NoSuchNamespaceError:
            raise SrError(f"Unknown database '{database}'", 1049) from None
        columns, unreadable = [], {}
        for f in loaded.schema().fields:
            sr = starrocks_type(f.field_type)
            if sr is None:
                unreadable[f.name] = f"column {f.name} of Iceberg type {f.field_type} (StarRocks ARRAY/MAP/STRUCT)"
                sr = str(f.field_type)
            elif sr == "unknown":
                unreadable[f.name] = f"column {f.name} of Iceberg type {f.field_type}, which StarRocks 3.3 cannot read"
            columns.append(Column(name=f.name, type=sr, nullable=True, comment=f.doc or ""))
        result = LoadedTable(name, database, table, loaded, columns, unreadable)
        with self._lock:
            self._cache[key] = result
        return result

    def refresh(self, name: str, database: str, table: str) -> None:
        """REFRESH EXTERNAL TABLE: the next read loads the table's metadata again."""
        self.load(name, database, table, fresh=True)


def _cache_ttl(properties: dict[str, str]) -> float:
    if properties.get("enable_iceberg_metadata_cache", "true").lower() == "false":
        return 0.0
    try:
        return float(properties.get("iceberg_table_cache_ttl_sec", DEFAULT_CACHE_TTL_S))
    except ValueError:
        raise SrError("Getting analyzing error. Detail message: iceberg_table_cache_ttl_sec must be a number of "
                      "seconds.", 1064) from None


def _with_scheme(endpoint: str, scheme: str = "https") -> str:
    """An endpoint as the AWS SDK takes it: StarRocks accepts one without a scheme (https then)."""
    return endpoint if urlparse(endpoint).scheme in ("http", "https") else f"{scheme}://{endpoint}"
