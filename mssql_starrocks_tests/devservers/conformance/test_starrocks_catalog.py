"""Iceberg external catalogs: CREATE EXTERNAL CATALOG on the S3 + Glue stand-in, SHOW CATALOGS / SHOW
CREATE CATALOG, SET CATALOG / USE, catalog.db.table in SELECT, INSERT INTO ... SELECT and DELETE
subqueries, the metadata cache and REFRESH EXTERNAL TABLE, and the errors StarRocks 3.3 answers.

The Iceberg tables are written by pyiceberg through the S3 + Glue stand-in, as any Iceberg writer would."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pyarrow as pa
import pymysql
import pytest
import requests

from mssql_starrocks_tests import e2e
from mssql_starrocks_tests.devservers.conformance.starrocks_client import auth, connect

D = "https://docs.starrocks.io/docs"
ICEBERG = f"{D}/data_source/catalog/iceberg/iceberg_catalog/"
FEATURES = f"{D}/data_source/feature-support-data-lake-analytics/"
CATALOG_SQL = f"{D}/sql-reference/sql-statements/Catalog"
CREATE = f"{CATALOG_SQL}/CREATE_EXTERNAL_CATALOG/"
SHOW_CATALOGS = f"{CATALOG_SQL}/SHOW_CATALOGS/"
SHOW_CREATE = f"{CATALOG_SQL}/SHOW_CREATE_CATALOG/"
SET_CATALOG = f"{CATALOG_SQL}/SET_CATALOG/"
DROP = f"{CATALOG_SQL}/DROP_CATALOG/"
INSERT = f"{D}/sql-reference/sql-statements/loading_unloading/INSERT/"
DELETE = f"{D}/sql-reference/sql-statements/table_bucket_part_index/DELETE/"
REFRESH = f"{D}/sql-reference/sql-statements/table_bucket_part_index/REFRESH_EXTERNAL_TABLE/"
ERRORS = f"{D}/sql-reference/Error_code/"

LAKE_DB = "cf_lake_" + uuid.uuid4().hex[:6]  # Glue databases outlive a StarRocks stand-in's data
NATIVE_DB = "cf_sr_catalog"
CAT = "lake"


def catalog_ddl(devservers, name: str = CAT, **overrides: str) -> str:
    """The Glue catalog DDL of the Iceberg catalog page (IAM user credentials, an S3-compatible endpoint)."""
    endpoint, key, secret = (devservers["AWS_ENDPOINT_URL"], devservers["AWS_ACCESS_KEY_ID"],
                             devservers["AWS_SECRET_ACCESS_KEY"])
    props = {"type": "iceberg", "iceberg.catalog.type": "glue", "aws.glue.use_instance_profile": "false",
             "aws.glue.access_key": key, "aws.glue.secret_key": secret, "aws.glue.region": devservers["AWS_REGION"],
             "aws.glue.endpoint": endpoint, "aws.s3.use_instance_profile": "false", "aws.s3.access_key": key,
             "aws.s3.secret_key": secret, "aws.s3.region": devservers["AWS_REGION"], "aws.s3.endpoint": endpoint,
             "aws.s3.enable_path_style_access": "true", "aws.s3.enable_ssl": "false", **overrides}
    body = ",\n".join(f'"{k}" = "{v}"' for k, v in props.items() if v is not None)
    return f'CREATE EXTERNAL CATALOG {name} COMMENT "the lake" PROPERTIES (\n{body}\n)'


ORDERS = pa.table({
    "id": pa.array([1, 2, 3], pa.int64()),
    "name": pa.array(["one", "twö", None], pa.string()),
    "amount": pa.array([decimal.Decimal("1.50"), decimal.Decimal("-2.25"), None], pa.decimal128(10, 2)),
    "qty": pa.array([10, None, 30], pa.int32()),
    "ratio": pa.array([0.5, 1.25, None], pa.float64()),
    "flag": pa.array([True, False, None], pa.bool_()),
    "day": pa.array([dt.date(2024, 1, 31), None, dt.date(1999, 12, 31)], pa.date32()),
    "created": pa.array([dt.datetime(2024, 1, 31, 12, 30, 45, 123456), None, dt.datetime(2000, 1, 1)],
                        pa.timestamp("us")),
    "created_tz": pa.array([dt.datetime(2024, 1, 31, 12, 0, tzinfo=dt.timezone.utc), None, None],
                           pa.timestamp("us", tz="UTC")),
    "payload": pa.array([b"\x00\x01", None, b""], pa.binary()),
})


@pytest.fixture(scope="module")
def lake(devservers):
    """A Glue database with `orders` (three rows) and `gone` (keys to delete), written by pyiceberg."""
    writer = e2e.pyiceberg_glue_catalog(devservers, "writer", warehouse=devservers["GLUE_WAREHOUSE"])
    writer.create_namespace(LAKE_DB)
    orders = writer.create_table(f"{LAKE_DB}.orders", schema=ORDERS.schema)
    orders.append(ORDERS)
    gone = writer.create_table(f"{LAKE_DB}.gone", schema=pa.schema([pa.field("id", pa.int64())]))
    gone.append(pa.table({"id": pa.array([2, 3], pa.int64())}))
    yield writer


@pytest.fixture(scope="module")
def cur(devservers, lake):
    conn = connect(devservers)
    c = conn.cursor()
    c.execute(f"DROP CATALOG IF EXISTS {CAT}")
    c.execute(catalog_ddl(devservers))
    c.execute(f"DROP DATABASE IF EXISTS {NATIVE_DB}")
    c.execute(f"CREATE DATABASE {NATIVE_DB}")
    yield c
    c.execute("SET CATALOG default_catalog")
    c.execute(f"DROP DATABASE IF EXISTS {NATIVE_DB}")
    c.execute(f"DROP CATALOG IF EXISTS {CAT}")
    conn.close()


def rows(cur, sql: str):
    cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


def error_of(cur, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as err:
        cur.execute(sql)
    return err.value.args[0], err.value.args[1]


@pytest.mark.doc(SHOW_CATALOGS)
def test_show_catalogs_lists_the_internal_and_the_iceberg_catalog(cur):
    assert rows(cur, "SHOW CATALOGS") == [
        ("default_catalog", "Internal", "An internal catalog contains this cluster's self-managed tables."),
        (CAT, "Iceberg", "the lake")]
    assert [d[0] for d in cur.description] == ["Catalog", "Type", "Comment"]


@pytest.mark.doc(ICEBERG)
def test_the_instance_profile_ddl_of_the_docs_reads_through_the_standins_aws(cur):
    """No endpoint and no key in the DDL: a real FE reaches AWS with its instance profile; the
    stand-in reaches the S3 + Glue stand-in it was started with."""
    cur.execute("DROP CATALOG IF EXISTS lake_profile")
    cur.execute('CREATE EXTERNAL CATALOG lake_profile PROPERTIES ("type" = "iceberg", "iceberg.catalog.type" = "glue", '
                '"aws.glue.use_instance_profile" = "true", "aws.glue.region" = "us-east-1", '
                '"aws.s3.use_instance_profile" = "true", "aws.s3.region" = "us-east-1")')
    try:
        assert rows(cur, f"SELECT count(*) FROM lake_profile.{LAKE_DB}.orders") == [(3,)]
    finally:
        cur.execute("DROP CATALOG lake_profile")


@pytest.mark.doc(SHOW_CREATE)
def test_show_create_catalog_anonymises_the_credentials(cur, devservers):
    [(name, ddl)] = rows(cur, f"SHOW CREATE CATALOG {CAT}")
    key, secret = devservers["AWS_ACCESS_KEY_ID"], devservers["AWS_SECRET_ACCESS_KEY"]
    assert name == CAT and ddl.startswith(f"CREATE EXTERNAL CATALOG `{CAT}`")
    assert key not in ddl and secret not in ddl
    assert f'"aws.s3.access_key"  =  "{key[:2]}******{key[-2:]}"' in ddl
    assert f'"aws.glue.secret_key"  =  "{secret[:2]}******{secret[-2:]}"' in ddl
    assert '"iceberg.catalog.type"  =  "glue"' in ddl and '"aws.glue.region"  =  "us-east-1"' in ddl


@pytest.mark.doc(CREATE)
def test_a_second_catalog_of_the_same_name_is_refused_unless_if_not_exists(cur, devservers):
    assert error_of(cur, catalog_ddl(devservers)) == (5514, f"Catalog '{CAT}' already exists")
    cur.execute(catalog_ddl(devservers).replace("CATALOG lake", "CATALOG IF NOT EXISTS lake"))
    assert len(rows(cur, "SHOW CATALOGS")) == 2


@pytest.mark.doc(ICEBERG)
def test_show_databases_and_tables_of_the_catalog(cur):
    assert (LAKE_DB,) in rows(cur, f"SHOW DATABASES FROM {CAT}")
    assert ("information_schema",) in rows(cur, f"SHOW DATABASES FROM {CAT}")
    assert rows(cur, f"SHOW TABLES FROM {CAT}.{LAKE_DB}") == [("gone",), ("orders",)]
    assert cur.description[0][0] == f"Tables_in_{LAKE_DB}"
    assert (NATIVE_DB,) in rows(cur, "SHOW DATABASES FROM default_catalog")
    assert (LAKE_DB,) not in rows(cur, "SHOW DATABASES FROM default_catalog")
    assert rows(cur, f"SHOW TABLES FROM default_catalog.{NATIVE_DB}") == rows(cur, f"SHOW TABLES FROM {NATIVE_DB}")


@pytest.mark.doc(ICEBERG)
def test_desc_maps_iceberg_types_to_starrocks_types(cur):
    described = {r[0]: (r[1], r[2]) for r in rows(cur, f"DESC {CAT}.{LAKE_DB}.orders")}
    assert described == {
        "id": ("bigint(20)", "YES"), "name": ("varchar(1048576)", "YES"), "amount": ("decimal(10,2)", "YES"),
        "qty": ("int(11)", "YES"), "ratio": ("double", "YES"), "flag": ("boolean", "YES"), "day": ("date", "YES"),
        "created": ("datetime", "YES"), "created_tz": ("datetime", "YES"), "payload": ("varbinary(1048576)", "YES")}


@pytest.mark.doc(ICEBERG)
def test_uuid_is_read_as_text_and_columns_starrocks_cannot_read_fail_loudly(cur, lake):
    from pyiceberg.schema import Schema
    from pyiceberg.types import LongType, NestedField, TimeType, UUIDType

    odd = lake.create_table(f"{LAKE_DB}.odd", schema=Schema(
        NestedField(1, "id", LongType()), NestedField(2, "u", UUIDType()), NestedField(3, "t", TimeType())))
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    odd.append(pa.table({"id": pa.array([1], pa.int64()), "u": pa.array([key.bytes], pa.binary(16)),
                         "t": pa.array([dt.time(12, 30)], pa.time64("us"))}, schema=odd.schema().as_arrow()))
    described = {r[0]: r[1] for r in rows(cur, f"DESC {CAT}.{LAKE_DB}.odd")}
    assert described == {"id": "bigint(20)", "u": "varchar(1048576)", "t": "unknown"}
    assert rows(cur, f"SELECT id, u FROM {CAT}.{LAKE_DB}.odd") == [(1, str(key))]
    for sql in (f"SELECT t FROM {CAT}.{LAKE_DB}.odd", f"SELECT * FROM {CAT}.{LAKE_DB}.odd"):
        code, message = error_of(cur, sql)
        assert code == 1235 and message.startswith("not supported by the stand-in: ") and "column t" in message


@pytest.mark.doc(ICEBERG)
def test_select_with_a_three_part_name_reads_the_current_snapshot(cur):
    got = rows(cur, f"SELECT id, name, amount, qty, ratio, flag, day, created, created_tz, payload "
                    f"FROM {CAT}.{LAKE_DB}.orders ORDER BY id")
    assert got == [
        (1, "one", decimal.Decimal("1.50"), 10, 0.5, 1, dt.date(2024, 1, 31),
         dt.datetime(2024, 1, 31, 12, 30, 45, 123456), dt.datetime(2024, 1, 31, 12, 0), b"\x00\x01"),
        (2, "twö", decimal.Decimal("-2.25"), None, 1.25, 0, None, None, None, None),
        (3, None, None, 30, None, None, dt.date(1999, 12, 31), dt.datetime(2000, 1, 1), None, b"")]
    assert rows(cur, f"SELECT count(*), sum(amount) FROM {CAT}.{LAKE_DB}.orders o WHERE o.id > 1") == [
        (2, decimal.Decimal("-2.25"))]


@pytest.mark.doc(ICEBERG)
def test_a_table_named_twice_in_one_statement_is_read_once(cur):
    assert rows(cur, f"SELECT a.id, b.id FROM {CAT}.{LAKE_DB}.gone a JOIN {CAT}.{LAKE_DB}.gone b "
                     "ON a.id + 1 = b.id ORDER BY a.id") == [(2, 3)]


@pytest.mark.doc(SET_CATALOG)
def test_set_catalog_then_use_resolves_unqualified_names_in_the_catalog(cur):
    cur.execute(f"SET CATALOG {CAT}")
    try:
        cur.execute(f"USE {LAKE_DB}")
        assert rows(cur, "SELECT count(*) FROM orders") == [(3,)]
        assert {("gone",), ("orders",)} <= set(rows(cur, "SHOW TABLES"))
        assert (LAKE_DB,) in rows(cur, "SHOW DATABASES")
    finally:
        cur.execute("SET CATALOG default_catalog")
    cur.execute(f"USE {NATIVE_DB}")  # back in default_catalog: `orders` is no internal table
    code, message = error_of(cur, "SELECT count(*) FROM orders")
    assert code == 1051 and f"Unknown table '{NATIVE_DB}.orders'" in message


@pytest.mark.doc(ICEBERG)
def test_use_catalog_dot_database_switches_both(cur):
    cur.execute(f"USE {CAT}.{LAKE_DB}")
    try:
        assert rows(cur, "SELECT max(id) FROM gone") == [(3,)]
    finally:
        cur.execute(f"USE default_catalog.{NATIVE_DB}")
    assert rows(cur, "SELECT DATABASE()") == [(NATIVE_DB,)]


@pytest.mark.doc(SET_CATALOG)
def test_set_catalog_to_an_unknown_catalog_fails(cur):
    assert error_of(cur, "SET CATALOG nowhere") == (5078, "Unknown catalog 'nowhere'")


@pytest.mark.doc(INSERT)
def test_insert_into_a_primary_key_table_select_from_the_catalog_upserts(cur):
    cur.execute(f"USE {NATIVE_DB}")
    cur.execute("DROP TABLE IF EXISTS pk_orders")
    cur.execute("CREATE TABLE pk_orders (id BIGINT NOT NULL, name VARCHAR(20), amount DECIMAL(10,2)) "
                "PRIMARY KEY(id) DISTRIBUTED BY HASH(id)")
    cur.execute("INSERT INTO pk_orders VALUES (1, 'stale', 0), (9, 'kept', 9)")
    assert cur.execute(f"INSERT INTO pk_orders SELECT id, name, amount FROM {CAT}.{LAKE_DB}.orders") == 3
    assert rows(cur, "SELECT id, name, amount FROM pk_orders ORDER BY id") == [
        (1, "one", decimal.Decimal("1.50")), (2, "twö", decimal.Decimal("-2.25")), (3, None, None),
        (9, "kept", decimal.Decimal("9.00"))]


@pytest.mark.doc(INSERT)
def test_insert_with_label_from_the_catalog_is_not_applied_twice(cur, devservers):
    cur.execute(f"USE {NATIVE_DB}")
    cur.execute("DROP TABLE IF EXISTS labelled")
    cur.execute("CREATE TABLE labelled (id BIGINT NOT NULL) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    label = "catalog_load_" + uuid.uuid4().hex[:8]
    insert = f"INSERT INTO labelled WITH LABEL {label} SELECT id FROM {CAT}.{LAKE_DB}.gone"
    assert cur.execute(insert) == 2
    assert error_of(cur, insert) == (5025, f"Label [{label}] has already been used.")
    assert rows(cur, "SELECT id FROM labelled ORDER BY id") == [(2,), (3,)]  # a duplicate-key table: not doubled
    state = requests.get(f"http://{devservers['STARROCKS_HOST']}:{devservers['STARROCKS_HTTP_PORT']}/api/{NATIVE_DB}"
                         f"/get_load_state?label={label}", auth=auth(devservers), timeout=10).json()
    assert state["state"] == "VISIBLE"


@pytest.mark.doc(INSERT)
def test_full_load_into_a_staging_table_then_swap(cur):
    cur.execute(f"USE {NATIVE_DB}")
    for name in ("full_live", "full_stage"):
        cur.execute(f"DROP TABLE IF EXISTS default_catalog.{NATIVE_DB}.{name}")
        cur.execute(f"CREATE TABLE default_catalog.{NATIVE_DB}.{name} (id BIGINT NOT NULL, created DATETIME) "
                    "PRIMARY KEY(id) DISTRIBUTED BY HASH(id)")
    cur.execute("INSERT INTO full_live VALUES (100, NULL)")
    cur.execute(f"INSERT INTO default_catalog.{NATIVE_DB}.full_stage SELECT id, created "
                f"FROM {CAT}.{LAKE_DB}.orders")
    cur.execute("ALTER TABLE full_live SWAP WITH full_stage")
    assert rows(cur, "SELECT id FROM full_live ORDER BY id") == [(1,), (2,), (3,)]
    assert rows(cur, "SELECT id FROM full_stage") == [(100,)]


@pytest.mark.doc(DELETE)
def test_delete_from_a_primary_key_table_with_a_subquery_on_the_catalog(cur):
    cur.execute(f"USE {NATIVE_DB}")
    cur.execute("DROP TABLE IF EXISTS pk_del")
    cur.execute("CREATE TABLE pk_del (id BIGINT NOT NULL, v VARCHAR(5)) PRIMARY KEY(id) DISTRIBUTED BY HASH(id)")
    cur.execute("INSERT INTO pk_del VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')")
    cur.execute(f"DELETE FROM pk_del WHERE id IN (SELECT id FROM {CAT}.{LAKE_DB}.gone)")
    assert rows(cur, "SELECT id FROM pk_del ORDER BY id") == [(1,), (4,)]


@pytest.mark.doc(DELETE)
def test_delete_with_a_catalog_subquery_on_a_duplicate_key_table_is_refused(cur):
    cur.execute(f"USE {NATIVE_DB}")
    cur.execute("DROP TABLE IF EXISTS dup_del")
    cur.execute("CREATE TABLE dup_del (id BIGINT NOT NULL, v VARCHAR(5)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    cur.execute("INSERT INTO dup_del VALUES (2, 'b')")
    code, message = error_of(cur, f"DELETE FROM dup_del WHERE id IN (SELECT id FROM {CAT}.{LAKE_DB}.gone)")
    assert code == 1064 and "Where clause only supports" in message
    assert rows(cur, "SELECT count(*) FROM dup_del") == [(1,)]


@pytest.mark.doc(REFRESH)
def test_a_new_snapshot_is_seen_after_refresh_external_table(cur, lake):
    query = f"SELECT count(*) FROM {CAT}.{LAKE_DB}.gone"
    assert rows(cur, query) == [(2,)]
    lake.load_table(f"{LAKE_DB}.gone").append(pa.table({"id": pa.array([7], pa.int64())}))
    assert rows(cur, query) == [(2,)]  # the cached metadata: data committed meanwhile is not visible yet
    cur.execute(f"REFRESH EXTERNAL TABLE {CAT}.{LAKE_DB}.gone")
    assert rows(cur, query) == [(3,)]
    lake.load_table(f"{LAKE_DB}.gone").delete("id = 7")  # back to the two keys the DELETE case expects
    cur.execute(f"REFRESH EXTERNAL TABLE {CAT}.{LAKE_DB}.gone")
    assert rows(cur, query) == [(2,)]


@pytest.mark.doc(FEATURES)
def test_a_catalog_without_the_table_cache_sees_every_commit(cur, lake, devservers):
    cur.execute("DROP CATALOG IF EXISTS lake_nocache")
    cur.execute(catalog_ddl(devservers, "lake_nocache", iceberg_table_cache_ttl_sec="0"))
    try:
        query = f"SELECT count(*) FROM lake_nocache.{LAKE_DB}.orders"
        assert rows(cur, query) == [(3,)]
        table = lake.load_table(f"{LAKE_DB}.orders")
        table.append(ORDERS.slice(0, 1))
        assert rows(cur, query) == [(4,)]
        table.delete("name = 'one'")  # pyiceberg's delete: the snapshot without both rows
        assert rows(cur, query) == [(2,)]
        table.append(ORDERS.slice(0, 1))
    finally:
        cur.execute("DROP CATALOG lake_nocache")
    cur.execute(f"REFRESH EXTERNAL TABLE {CAT}.{LAKE_DB}.orders")


@pytest.mark.doc(FEATURES)
def test_time_travel_is_a_syntax_error_in_3_3(cur, lake):
    snapshot = lake.load_table(f"{LAKE_DB}.orders").current_snapshot().snapshot_id
    sql = f"SELECT count(*) FROM {CAT}.{LAKE_DB}.orders FOR VERSION AS OF {snapshot}"
    assert error_of(cur, sql) == (1064, f"Getting syntax error at line 1, column {sql.index('FOR')}. Detail message: "
                                        "Unexpected input 'FOR'.")
    code, message = error_of(cur, f"SELECT count(*) FROM {CAT}.{LAKE_DB}.orders\nfor timestamp as of '2024-01-01'")
    assert code == 1064 and "line 2, column 0" in message and "Unexpected input 'for'" in message
    assert rows(cur, f"SELECT count(*) FROM {CAT}.{LAKE_DB}.orders WHERE name <> 'for version as of 1'") == [(2,)]


@pytest.mark.doc(ERRORS)
def test_unknown_catalog_database_and_table(cur):
    assert error_of(cur, f"SELECT * FROM nowhere.{LAKE_DB}.orders") == (5078, "Unknown catalog 'nowhere'")
    assert error_of(cur, f"SELECT * FROM {CAT}.no_such_db.orders") == (1049, "Unknown database 'no_such_db'")
    code, message = error_of(cur, f"SELECT * FROM {CAT}.{LAKE_DB}.no_such_table")
    assert code == 1051 and f"Unknown table '{CAT}.{LAKE_DB}.no_such_table'" in message
    assert error_of(cur, f"SHOW TABLES FROM {CAT}.no_such_db") == (1049, "Unknown database 'no_such_db'")
    code, message = error_of(cur, f"SELECT * FROM {CAT}.information_schema.tables")
    assert code == 1235 and message == f"not supported by the stand-in: information_schema of external catalog {CAT}"


@pytest.mark.doc(ICEBERG)
def test_an_unreachable_glue_endpoint_fails_at_first_use_naming_it(cur, devservers):
    cur.execute("DROP CATALOG IF EXISTS lake_down")
    cur.execute(catalog_ddl(devservers, "lake_down", **{"aws.glue.endpoint": "http://127.0.0.1:9"}))
    try:
        code, message = error_of(cur, f"SELECT count(*) FROM lake_down.{LAKE_DB}.orders")
        assert code == 1064 and "catalog 'lake_down'" in message and "http://127.0.0.1:9" in message
    finally:
        cur.execute("DROP CATALOG lake_down")


@pytest.mark.doc(ICEBERG)
def test_an_unreachable_rest_catalog_fails_at_first_use_naming_it(cur):
    cur.execute("DROP CATALOG IF EXISTS rest_down")
    cur.execute('CREATE EXTERNAL CATALOG rest_down PROPERTIES ("type" = "iceberg", "iceberg.catalog.type" = "rest", '
                '"iceberg.catalog.uri" = "http://127.0.0.1:9/api/catalog", "iceberg.catalog.warehouse" = "sandbox")')
    try:
        code, message = error_of(cur, "SHOW DATABASES FROM rest_down")
        assert code == 1064 and "REST catalog http://127.0.0.1:9/api/catalog" in message
    finally:
        cur.execute("DROP CATALOG rest_down")


@pytest.mark.doc(ICEBERG)
def test_catalog_type_and_metastore_type_are_checked(cur):
    code, message = error_of(cur, 'CREATE EXTERNAL CATALOG bad1 PROPERTIES ("type" = "iceberg")')
    assert code == 1064 and message.startswith("Can't find iceberg native catalog type")
    code, message = error_of(cur, 'CREATE EXTERNAL CATALOG bad2 PROPERTIES ("type" = "iceberg", '
                                  '"iceberg.catalog.type" = "nessie")')
    assert message == "Property iceberg.catalog.type is missing or not supported now."
    code, message = error_of(cur, 'CREATE EXTERNAL CATALOG bad3 PROPERTIES ("type" = "mongo")')
    assert "[type : mongo] is not supported" in message
    code, message = error_of(cur, 'CREATE EXTERNAL CATALOG bad4 PROPERTIES ("type" = "hive", '
                                  '"hive.metastore.uris" = "thrift://127.0.0.1:9083")')
    assert code == 1235 and message.startswith("not supported by the stand-in: ")
    assert [r[0] for r in rows(cur, "SHOW CATALOGS")] == ["default_catalog", CAT]


@pytest.mark.doc(ICEBERG)
def test_writing_into_an_iceberg_catalog_table_is_refused_loudly(cur):
    code, message = error_of(cur, f"INSERT INTO {CAT}.{LAKE_DB}.gone VALUES (5)")
    assert code == 1235 and message.startswith("not supported by the stand-in: INSERT INTO")
    code, message = error_of(cur, f"DELETE FROM {CAT}.{LAKE_DB}.gone WHERE id = 2")
    assert code == 1235 and "not supported by the stand-in" in message
    code, message = error_of(cur, f"CREATE TABLE {CAT}.{LAKE_DB}.made (id BIGINT)")
    assert code == 1235 and "not supported by the stand-in: CREATE TABLE" in message
    cur.execute(f"USE {CAT}.{LAKE_DB}")
    try:
        code, message = error_of(cur, "CREATE TABLE made (id BIGINT)")
        assert code == 1235 and "not supported by the stand-in: CREATE TABLE in external catalog lake" in message
    finally:
        cur.execute(f"USE default_catalog.{NATIVE_DB}")
    assert ("orders",) in rows(cur, f"SHOW TABLES FROM {CAT}.{LAKE_DB}")


@pytest.mark.doc(DROP)
def test_drop_catalog_removes_it_and_the_internal_catalog_stays(cur, devservers):
    cur.execute(catalog_ddl(devservers, "lake_tmp"))
    cur.execute("DROP CATALOG lake_tmp")
    assert error_of(cur, f"SELECT count(*) FROM lake_tmp.{LAKE_DB}.orders") == (5078, "Unknown catalog 'lake_tmp'")
    assert error_of(cur, "DROP CATALOG lake_tmp")[0] == 5078
    cur.execute("DROP CATALOG IF EXISTS lake_tmp")
    assert error_of(cur, "DROP CATALOG default_catalog")[0] == 1064
