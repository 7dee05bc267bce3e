"""Permanent failures: the classes no retry can get past, listed in one place.

The retry policy (defs/migration/assets.py, `_failures`) asks `permanent_class` about every
failure of a step: a failure of one of these classes fails the step at once, naming its class;
anything else (a timeout, a dropped connection, a busy server, the unexpected) is retried.

The classes, by exception type where the product raises its own, else by the text of the error
and of the Java exceptions behind it (Spark, mssql-jdbc, the AWS SDK):

| class | what | examples |
| --- | --- | --- |
| auth | a login or key refused | SQL Server 18456 "Login failed", StarRocks 1045 / HTTP 401, AWS InvalidAccessKeyId |
| privilege | the user logged in but may not do it | StarRocks 5203 "Access denied; you need (at least one of) the CREATE TABLE privilege(s) on DATABASE d" |
| trust | a TLS certificate not trusted | source/trust.py's refusal, mssql-jdbc's PKIX / SSLHandshakeException |
| missing object | a table, column, database or bucket that is not there | SQL Server 208/207, NoSuchBucket |
| invalid SQL | a statement the server cannot parse or run | SQL Server 102/156, StarRocks 1064 |
| disk full | no space left for data, logs or spill | ENOSPC, SQL Server 1105/9002 |
| bad configuration | settings that cannot work | a missing variable, a catalog type its warehouse cannot use, a load path its catalog cannot serve, a Spark jar missing |
| canceled | the work was stopped on purpose | Ctrl-C on `mssql-starrocks run` cancelling Spark's jobs |

Refused rows and bad schemas are permanent too; their types are in PERMANENT_TYPES.
"""

from __future__ import annotations

import re

from mssql_starrocks.lib.config import TablesFileError
from mssql_starrocks.lib.locks import TableBusyError
from mssql_starrocks.mapping.schema import SchemaError
from mssql_starrocks.source.mssql import SourceError, TableNotFound, UntrustedCertificate
from mssql_starrocks.target.load_paths import LoadPathError
from mssql_starrocks.target.load_paths.catalog import ExternalCatalogMissing
from mssql_starrocks.target.starrocks import StarRocksAccessDenied
from mssql_starrocks.target.stream_load import StarRocksLoadFailed

# The product's own errors that are permanent unless they say they are transient (`.transient`).
PERMANENT_TYPES = (SchemaError, SourceError, StarRocksLoadFailed, StarRocksAccessDenied, TablesFileError,
                   TableBusyError, LoadPathError, ExternalCatalogMissing)

# AWS error codes a retry cannot get past (others, e.g. SlowDown or throttling, are retried).
AWS_PERMANENT = {"AccessDenied": "auth", "AccessDeniedException": "auth", "AllAccessDisabled": "auth",
                 "InvalidAccessKeyId": "auth", "SignatureDoesNotMatch": "auth", "UnrecognizedClientException": "auth",
                 "InvalidClientTokenId": "auth", "NoSuchBucket": "missing object",
                 "EntityNotFoundException": "missing object"}

PERMANENT_CLASSES: dict[str, re.Pattern] = {
    "auth": re.compile(r"Login failed for user|error 18456\b|Access denied for user|\bHTTP 401\b|answered 401\b|"
                       r"password authentication failed|The security token included in the request is invalid", re.I),
    "privilege": re.compile(r"Access denied; you need \(at least one of\) the .+? privilege\(s\)", re.I),
    "trust": re.compile(r"certificate is not trusted|PKIX path|unable to find valid certification path|"
                        r"CertificateException|No subject alternative|certificate verify failed", re.I),
    "missing object": re.compile(r"Invalid object name|Invalid column name|error (208|207)\b|Unknown database|"
                                 r"Unknown table|NoSuchBucket|NoSuchTableException|NoSuchNamespaceException", re.I),
    "invalid SQL": re.compile(r"Incorrect syntax near|error (102|156)\b|You have an error in your SQL syntax|"
                              r"ParseException", re.I),
    "disk full": re.compile(r"No space left on device|ENOSPC|Disk quota exceeded|error (1105|9002)\b", re.I),
    "bad configuration": re.compile(r"missing environment variable|ICEBERG_CATALOG_TYPE|MSSQL_CA_FILE|"
                                    r"STARROCKS_LOAD_MAX_MB|Spark jars missing in", re.I),
    # Spark's words for jobs cancelled by SparkContext.cancelAllJobs / a job group / Connect's interrupt.
    "canceled": re.compile(r"cancelled as part of cancellation of all jobs|part of cancelled job group|"
                           r"cancelled because SparkContext was shut down|OPERATION_CANCELED", re.I),
}

TYPE_CLASSES = ((UntrustedCertificate, "trust"), (StarRocksAccessDenied, "auth"), (TableNotFound, "missing object"),
                (TablesFileError, "bad configuration"), (LoadPathError, "bad configuration"),
                (ExternalCatalogMissing, "missing object"))


def permanent_class(exc: BaseException, text: str = "", aws_code: str | None = None) -> str | None:
    """The permanent class of a failure (a key of PERMANENT_CLASSES), or None when a retry may
    get past it. `text` adds what the exception's own str() lacks (e.g. its Java causes)."""
    for kind, name in TYPE_CLASSES:
        if isinstance(exc, kind):
            return name
    if getattr(exc, "transient", False):
        return None
    if aws_code in AWS_PERMANENT:
        return AWS_PERMANENT[aws_code]
    message = f"{exc}\n{text}"
    for name, pattern in PERMANENT_CLASSES.items():
        if pattern.search(message):
            return name
    return None
