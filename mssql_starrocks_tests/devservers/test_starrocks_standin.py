"""The StarRocks stand-in against the real clients: pymysql, MySQL Connector/J (Spark), curl and requests."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import subprocess

import pymysql
import pytest
import requests

DB = "sr_probe"


def connect(devservers, password=None):
    return pymysql.connect(host=devservers["STARROCKS_HOST"], port=int(devservers["STARROCKS_QUERY_PORT"]),
                           user=devservers["STARROCKS_USER"], password=password or devservers["STARROCKS_PASSWORD"],
                           autocommit=True, charset="utf8mb4")


def sql(devservers, statement: str, params=None):
    conn = connect(devservers)
    try:
        cur = conn.cursor()
        cur.execute(statement, params)
        return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def curl_load(devservers, table: str, data: bytes, tmp_path, headers: dict[str, str],
              user: str | None = None) -> dict:
    path = tmp_path / "data.txt"
    path.write_bytes(data)
    command = ["curl", "-s", "--location-trusted",
               "-u", f"{user or devservers['STARROCKS_USER']}:{devservers['STARROCKS_PASSWORD']}",
               "-H", "Expect:100-continue"]
    for k, v in headers.items():
        command += ["-H", f"{k}:{v}"]
    command += ["-T", str(path),
                f"http://{devservers['STARROCKS_HOST']}:{devservers['STARROCKS_HTTP_PORT']}/api/{DB}/{table}/_stream_load"]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout)


@pytest.fixture(scope="module")
def tables(devservers):
    sql(devservers, f"DROP DATABASE IF EXISTS {DB}")
    sql(devservers, f"CREATE DATABASE {DB}")
    sql(devservers, f"CREATE TABLE {DB}.dup (id INT NOT NULL, name VARCHAR(6) NULL, amount DECIMAL(10,2) NULL, "
                    "ts DATETIME NULL, flag BOOLEAN NULL) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2 "
                    'PROPERTIES ("replication_num" = "1")')
    sql(devservers, f"CREATE TABLE {DB}.pk (id BIGINT NOT NULL, name VARCHAR(65533) NULL, qty INT NULL) "
                    "PRIMARY KEY(id) DISTRIBUTED BY HASH(id)")
    return DB


def test_version_and_sql_through_pymysql(devservers, tables):
    assert sql(devservers, "SELECT current_version()")[0][0].startswith("3.3.")
    assert sql(devservers, "SELECT @@version_comment")[0][0].startswith("StarRocks version 3.3.")
    sql(devservers, f"INSERT INTO {DB}.dup VALUES (1, 'abc', 12.34, '2024-01-02 03:04:05.123456', true), "
                    "(2, NULL, NULL, NULL, NULL)")
    rows = sql(devservers, f"SELECT id, name, amount, ts, flag FROM {DB}.dup ORDER BY id")
    assert rows == [(1, "abc", decimal.Decimal("12.34"), dt.datetime(2024, 1, 2, 3, 4, 5, 123456), 1),
                    (2, None, None, None, None)]
    create = sql(devservers, f"SHOW CREATE TABLE {DB}.dup")[0][1]
    assert "DUPLICATE KEY(`id`)" in create and "DISTRIBUTED BY HASH(`id`) BUCKETS 2" in create
    columns = sql(devservers, "SELECT column_name, column_type FROM information_schema.columns "
                              f"WHERE table_schema = '{DB}' AND table_name = 'dup' ORDER BY ordinal_position")
    assert columns[1] == ("name", "varchar(6)") and columns[2] == ("amount", "decimal(10,2)")


def test_varchar_length_counts_utf8_bytes(devservers, tables):
    sql(devservers, f"INSERT INTO {DB}.dup (id, name) VALUES (3, '東京')")  # 6 bytes: fits
    with pytest.raises(pymysql.MySQLError) as err:
        sql(devservers, f"INSERT INTO {DB}.dup (id, name) VALUES (4, '東京都')")  # 9 bytes > 6
    assert "filtered" in str(err.value) and "name" in str(err.value)
    assert sql(devservers, f"SELECT COUNT(*) FROM {DB}.dup WHERE id = 4") == [(0,)]


def test_errors_and_wrong_password(devservers, tables, tmp_path):
    with pytest.raises(pymysql.MySQLError) as err:
        sql(devservers, f"SELECT * FROM {DB}.no_such_table")
    assert "Unknown table" in str(err.value)
    with pytest.raises(pymysql.MySQLError) as err:
        sql(devservers, "SELECT * FROM no_such_db.t")
    assert "Unknown database" in str(err.value) or "Unknown table" in str(err.value)
    with pytest.raises(pymysql.MySQLError) as err:
        connect(devservers, password="wrong")
    assert err.value.args[0] == 1045
    denied = curl_load(devservers, "dup", b"9\tx\n", tmp_path, {"label": "denied"}, user="nobody")
    assert denied["Status"] == "Fail" or denied.get("status") == "FAILED"


def test_stream_load_with_curl_as_documented(devservers, tables, tmp_path):
    data = "10,abc,1.50,2024-01-01 00:00:00,true\n11,東京,2.25,2024-01-02 10:00:00.5,false\n".encode()
    reply = curl_load(devservers, "dup", data, tmp_path, {"label": "docs_1", "column_separator": ","})
    assert reply["Status"] == "Success" and reply["NumberLoadedRows"] == 2 and reply["Label"] == "docs_1"
    again = curl_load(devservers, "dup", data, tmp_path, {"label": "docs_1", "column_separator": ","})
    assert again["Status"] == "Label Already Exists" and again["ExistingJobStatus"] == "FINISHED"
    assert sql(devservers, f"SELECT COUNT(*) FROM {DB}.dup WHERE id IN (10, 11)") == [(2,)]


def test_filtered_rows_are_explained_and_too_many_load_nothing(devservers, tables, tmp_path):
    data = "20,ok,1,2024-01-01,true\n21,東京都,1,2024-01-01,true\n".encode()  # 東京都 is 9 bytes > VARCHAR(6)
    failed = curl_load(devservers, "dup", data, tmp_path, {"label": "filtered_1", "column_separator": ","})
    assert failed["Status"] == "Fail" and "too many filtered rows" in failed["Message"]
    assert failed["NumberFilteredRows"] == 1
    assert sql(devservers, f"SELECT COUNT(*) FROM {DB}.dup WHERE id = 20") == [(0,)]  # nothing visible
    log = requests.get(failed["ErrorURL"], timeout=30).text
    assert "Value length beyond the limit" in log and "name" in log and "東京都" in log
    tolerated = curl_load(devservers, "dup", data, tmp_path,
                          {"label": "filtered_2", "column_separator": ",", "max_filter_ratio": "0.5"})
    assert tolerated["Status"] == "Success" and tolerated["NumberLoadedRows"] == 1
    # The failed label can be used again (its transaction was aborted).
    retry = curl_load(devservers, "dup", b"22,ok,1,2024-01-01,true\n", tmp_path,
                      {"label": "filtered_1", "column_separator": ","})
    assert retry["Status"] == "Success"


def test_fe_refuses_a_load_without_100_continue(devservers, tables):
    url = f"http://{devservers['STARROCKS_HOST']}:{devservers['STARROCKS_HTTP_PORT']}/api/{DB}/dup/_stream_load"
    resp = requests.put(url, data=b"1\tx\n", auth=(devservers["STARROCKS_USER"], devservers["STARROCKS_PASSWORD"]),
                        headers={"label": "no_expect"}, allow_redirects=False, timeout=30)
    assert "There is no 100-continue header" in resp.text
    with_expect = requests.put(url, data=b"", headers={"label": "x", "Expect": "100-continue"},
                               auth=(devservers["STARROCKS_USER"], devservers["STARROCKS_PASSWORD"]),
                               allow_redirects=False, timeout=30)
    assert with_expect.status_code == 307
    assert with_expect.headers["Location"].endswith(f"/api/{DB}/dup/_stream_load")


def test_json_load_primary_key_upsert_and_delete(devservers, tables, tmp_path):
    rows = [{"id": 1, "name": "a", "qty": 1}, {"id": 2, "name": "b", "qty": 2}, {"id": 3, "name": "c", "qty": 3}]
    reply = curl_load(devservers, "pk", json.dumps(rows).encode(), tmp_path,
                      {"label": "pk_1", "format": "json", "strip_outer_array": "true"})
    assert reply["Status"] == "Success" and reply["NumberLoadedRows"] == 3
    changes = [{"id": 2, "name": "bb", "qty": 20, "__op": 0}, {"id": 3, "__op": 1}, {"id": 4, "name": "d", "qty": 4, "__op": 0}]
    reply = curl_load(devservers, "pk", json.dumps(changes).encode(), tmp_path,
                      {"label": "pk_2", "format": "json", "strip_outer_array": "true", "columns": "id, name, qty, __op"})
    assert reply["Status"] == "Success"
    assert sql(devservers, f"SELECT id, name, qty FROM {DB}.pk ORDER BY id") == [(1, "a", 1), (2, "bb", 20), (4, "d", 4)]


def test_varbinary_from_hex_through_columns_expression(devservers, tables, tmp_path):
    sql(devservers, f"CREATE TABLE IF NOT EXISTS {DB}.bin (id INT NOT NULL, b VARBINARY(8) NULL) "
                    "DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    reply = curl_load(devservers, "bin", json.dumps([{"id": 1, "hex_b": "00ff0001"}]).encode(), tmp_path,
                      {"label": "bin_1", "format": "json", "strip_outer_array": "true",
                       "columns": "id, hex_b, b=to_binary(hex_b, 'hex')"})
    assert reply["Status"] == "Success"
    assert sql(devservers, f"SELECT b FROM {DB}.bin WHERE id = 1") == [(b"\x00\xff\x00\x01",)]


def test_swap_insert_overwrite_and_alter(devservers, tables):
    sql(devservers, f"CREATE TABLE {DB}.a (id INT NOT NULL, v VARCHAR(10)) DUPLICATE KEY(id) DISTRIBUTED BY RANDOM")
    sql(devservers, f"CREATE TABLE {DB}.b LIKE {DB}.a")
    sql(devservers, f"INSERT INTO {DB}.a VALUES (1, 'old')")
    sql(devservers, f"INSERT INTO {DB}.b VALUES (2, 'new'), (3, 'new')")
    sql(devservers, f"ALTER TABLE {DB}.a SWAP WITH b")
    assert sql(devservers, f"SELECT id FROM {DB}.a ORDER BY id") == [(2,), (3,)]
    assert sql(devservers, f"SELECT id FROM {DB}.b") == [(1,)]
    sql(devservers, f"INSERT OVERWRITE {DB}.a SELECT id + 10, v FROM {DB}.b")
    assert sql(devservers, f"SELECT id, v FROM {DB}.a") == [(11, "old")]
    sql(devservers, f"ALTER TABLE {DB}.a ADD COLUMN extra BIGINT NULL")
    sql(devservers, f"ALTER TABLE {DB}.a MODIFY COLUMN v VARCHAR(30) NULL")
    cols = dict(sql(devservers, "SELECT column_name, column_type FROM information_schema.columns "
                                f"WHERE table_schema = '{DB}' AND table_name = 'a'"))
    assert cols == {"id": "int(11)", "v": "varchar(30)", "extra": "bigint(20)"}
    with pytest.raises(pymysql.MySQLError):
        sql(devservers, f"ALTER TABLE {DB}.a MODIFY COLUMN v VARCHAR(5) NULL")  # narrowing is refused
    sql(devservers, f"TRUNCATE TABLE {DB}.a")
    assert sql(devservers, f"SELECT COUNT(*) FROM {DB}.a") == [(0,)]


def test_connector_j_reads_and_batch_inserts_through_spark(devservers, tables, spark):
    url = f"jdbc:mysql://{devservers['STARROCKS_HOST']}:{devservers['STARROCKS_QUERY_PORT']}/{DB}?useSSL=false&rewriteBatchedStatements=true"
    opts = {"url": url, "user": devservers["STARROCKS_USER"], "password": devservers["STARROCKS_PASSWORD"],
            "driver": "com.mysql.cj.jdbc.Driver"}
    sql(devservers, f"CREATE TABLE {DB}.jdbc_target (id INT NOT NULL, name VARCHAR(30), amount DECIMAL(10,2), "
                    "ts DATETIME) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    df = spark.createDataFrame([(i, f"名前 {i}", decimal.Decimal(f"{i}.25"), dt.datetime(2024, 1, 1, 0, 0, i % 60))
                                for i in range(2500)], "id int, name string, amount decimal(10,2), ts timestamp")
    df.write.format("jdbc").options(**opts).option("dbtable", "jdbc_target").option("batchsize", "1000") \
        .mode("append").save()
    back = spark.read.format("jdbc").options(**opts).option("dbtable", "jdbc_target").load()
    assert back.count() == 2500
    row = back.where("id = 7").collect()[0]
    assert row["name"] == "名前 7" and row["amount"] == decimal.Decimal("7.25")


def _connector_j(spark, devservers, database: str = ""):
    """A java.sql.Connection from MySQL Connector/J inside Spark's JVM (the driver jar is on
    spark.jars, so it is loaded through Spark's class loader, as DriverManager cannot see it)."""
    jvm = spark.sparkContext._jvm
    driver = jvm.org.apache.spark.util.Utils.classForName("com.mysql.cj.jdbc.Driver", True, False).newInstance()
    props = jvm.java.util.Properties()
    props.setProperty("user", devservers["STARROCKS_USER"])
    props.setProperty("password", devservers["STARROCKS_PASSWORD"])
    url = f"jdbc:mysql://{devservers['STARROCKS_HOST']}:{devservers['STARROCKS_QUERY_PORT']}/{database}?useSSL=false"
    assert driver.acceptsURL(url)
    return jvm, driver.connect(url, props)


def _jdbc_rows(conn, query: str) -> list[tuple]:
    rs = conn.createStatement().executeQuery(query)
    n = rs.getMetaData().getColumnCount()
    rows = []
    while rs.next():
        rows.append(tuple(rs.getString(i) for i in range(1, n + 1)))
    return rows


def _jdbc_columns(conn, table: str) -> list[tuple]:
    """(name, type name, scale) as Connector/J reports a SELECT's columns. Lengths and nullability
    are read from DatabaseMetaData: StarRocks' result column definitions carry neither exactly
    (flags are 0; a length is 3 bytes per character, and the stand-in sends the maximum)."""
    meta = conn.createStatement().executeQuery(f"SELECT * FROM {table} WHERE 1 = 0").getMetaData()
    return [(meta.getColumnName(i), meta.getColumnTypeName(i), meta.getScale(i))
            for i in range(1, meta.getColumnCount() + 1)]


def _described(conn, table: str) -> list[tuple]:
    """DatabaseMetaData.getColumns, as JDBC tools read a table (Connector/J asks SHOW FULL COLUMNS)."""
    found = conn.getMetaData().getColumns(DB, None, table, "%")
    out = []
    while found.next():
        out.append((found.getString("COLUMN_NAME"), found.getString("TYPE_NAME"), found.getInt("COLUMN_SIZE"),
                    found.getInt("DECIMAL_DIGITS"), found.getString("IS_NULLABLE")))
    return out


def test_connector_j_ddl_create_alter_add_column_and_drop(devservers, tables, spark):
    """CREATE TABLE, ALTER TABLE ... ADD COLUMN and DROP TABLE sent by the JVM driver, each checked
    through the same driver (result set metadata, typed reads) and through information_schema."""
    jvm, conn = _connector_j(spark, devservers, DB)
    try:
        stmt = conn.createStatement()
        assert stmt.executeUpdate("DROP TABLE IF EXISTS cj_ddl") == 0
        assert stmt.executeUpdate(
            "CREATE TABLE cj_ddl (id BIGINT NOT NULL, name VARCHAR(20) NULL, amount DECIMAL(12,3) NULL) "
            'PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2 PROPERTIES ("replication_num" = "1")') == 0
        assert ("cj_ddl",) in _jdbc_rows(conn, "SHOW TABLES")
        assert _jdbc_columns(conn, "cj_ddl") == [("id", "BIGINT", 0), ("name", "VARCHAR", 0), ("amount", "DECIMAL", 3)]
        assert _described(conn, "cj_ddl") == [("id", "BIGINT", 19, 0, "NO"), ("name", "VARCHAR", 20, 0, "YES"),
                                              ("amount", "DECIMAL", 12, 3, "YES")]
        create = _jdbc_rows(conn, "SHOW CREATE TABLE cj_ddl")[0][1]
        assert "PRIMARY KEY(`id`)" in create and "DISTRIBUTED BY HASH(`id`) BUCKETS 2" in create
        insert = conn.prepareStatement("INSERT INTO cj_ddl (id, name, amount) VALUES (?, ?, ?)")
        insert.setLong(1, 1)
        insert.setString(2, "東京")
        insert.setBigDecimal(3, jvm.java.math.BigDecimal("1234.567"))
        assert insert.executeUpdate() == 1

        assert stmt.executeUpdate("ALTER TABLE cj_ddl ADD COLUMN note VARCHAR(30) NULL") == 0
        jobs = _jdbc_rows(conn, "SHOW ALTER TABLE COLUMN WHERE TableName = 'cj_ddl'")
        assert [j for j in jobs if j[9] not in ("FINISHED", "CANCELLED")] == []  # nothing pending: the column is there
        assert _jdbc_columns(conn, "cj_ddl")[-1] == ("note", "VARCHAR", 0)
        assert _described(conn, "cj_ddl")[-1] == ("note", "VARCHAR", 30, 0, "YES")
        assert stmt.executeUpdate("INSERT INTO cj_ddl (id, name, amount, note) VALUES (2, 'b', -0.5, 'added')") == 1
        rs = stmt.executeQuery("SELECT id, name, amount, note FROM cj_ddl ORDER BY id")
        got = []
        while rs.next():
            row = (rs.getLong(1), rs.getString(2), str(rs.getBigDecimal(3)), rs.getString(4))
            got.append((*row, rs.wasNull()))  # wasNull: of the last column read, the added one
        assert got == [(1, "東京", "1234.567", None, True), (2, "b", "-0.500", "added", False)]
        assert sql(devservers, "SELECT column_name, column_type FROM information_schema.columns "
                               f"WHERE table_schema = '{DB}' AND table_name = 'cj_ddl' ORDER BY ordinal_position") == [
            ("id", "bigint(20)"), ("name", "varchar(20)"), ("amount", "decimal(12,3)"), ("note", "varchar(30)")]

        assert stmt.executeUpdate("DROP TABLE cj_ddl") == 0
        assert ("cj_ddl",) not in _jdbc_rows(conn, "SHOW TABLES")
        with pytest.raises(Exception) as err:
            stmt.executeQuery("SELECT * FROM cj_ddl")
        assert "SQLSyntaxErrorException" in str(err.value) or "SQLException" in str(err.value)
        assert "Unknown table" in str(err.value)
        assert stmt.executeUpdate("DROP TABLE IF EXISTS cj_ddl") == 0
        assert sql(devservers, "SELECT COUNT(*) FROM information_schema.tables "
                               f"WHERE table_schema = '{DB}' AND table_name = 'cj_ddl'") == [(0,)]
        check = stmt.executeQuery("SELECT COUNT(*) FROM dup")  # the connection still serves
        assert check.next() and check.getLong(1) >= 0
    finally:
        conn.close()
