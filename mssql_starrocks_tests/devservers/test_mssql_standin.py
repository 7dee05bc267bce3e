"""The SQL Server stand-in against the real drivers: mssql-jdbc (through Spark) and pymssql (FreeTDS)."""

from __future__ import annotations

import datetime as dt
import decimal
import re
import struct
import threading
import uuid

import pymssql
import pytest

from mssql_starrocks_devservers import sample


@pytest.fixture(scope="module")
def demo(devservers):
    return sample.load(devservers, spec="demo")


def connect(devservers, database="demo", **kw):
    return pymssql.connect(server=devservers["MSSQL_HOST"], port=devservers["MSSQL_PORT"],
                           user=devservers["MSSQL_USER"], password=kw.pop("password", devservers["MSSQL_PASSWORD"]),
                           database=database, tds_version="7.4", autocommit=True, **kw)


def jdbc(devservers, extra="encrypt=false", database="demo"):
    url = f"jdbc:sqlserver://{devservers['MSSQL_HOST']}:{devservers['MSSQL_PORT']};databaseName={database};{extra}"
    return dict(url=url, user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"],
                driver="com.microsoft.sqlserver.jdbc.SQLServerDriver")


def _real(value: float) -> float:
    """A REAL (4-byte float) as drivers hand it to Python: the nearest float32, widened."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _tz(minutes: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(minutes=minutes))


# Every value of dbo.all_types as demo.yaml inserts it and SQL Server returns it (pymssql's Python
# types): row 1 NULLs, row 2 minima, row 3 maxima, row 4 typical values. CHAR/NCHAR/BINARY are
# padded to their length. The stand-in keeps 100 ns types to the microsecond (docs/devservers.md),
# so the 9999-12-31 ...59.9999999 maxima read back as ...59.999999.
NULLS = {name: None for name in (
    "c_bit", "c_tinyint", "c_smallint", "c_int", "c_bigint", "c_decimal", "c_numeric", "c_money", "c_smallmoney",
    "c_float", "c_real", "c_date", "c_time", "c_datetime", "c_smalldatetime", "c_datetime2", "c_datetimeoffset",
    "c_char", "c_varchar", "c_varchar_max", "c_nchar", "c_nvarchar", "c_nvarchar_max", "c_binary", "c_varbinary",
    "c_varbinary_max", "c_uniqueidentifier", "c_xml")}
MINIMA = {
    "c_bit": False, "c_tinyint": 0, "c_smallint": -32768, "c_int": -2147483648, "c_bigint": -9223372036854775808,
    "c_decimal": decimal.Decimal("-9999999999999999999999999999.9999999999"),
    "c_numeric": decimal.Decimal("-999999999999999999"), "c_money": decimal.Decimal("-922337203685477.5808"),
    "c_smallmoney": decimal.Decimal("-214748.3648"), "c_float": -1.79e308, "c_real": _real(-3.40e38),
    "c_date": dt.date(1, 1, 1), "c_time": dt.time(0, 0), "c_datetime": dt.datetime(1753, 1, 1),
    "c_smalldatetime": dt.datetime(1900, 1, 1), "c_datetime2": dt.datetime(1, 1, 1),
    "c_datetimeoffset": dt.datetime(2000, 1, 1, tzinfo=_tz(-14 * 60)),
    "c_char": " " * 10, "c_varchar": "", "c_varchar_max": "", "c_nchar": " " * 10, "c_nvarchar": "",
    "c_nvarchar_max": "", "c_binary": b"\x00" * 8, "c_varbinary": b"", "c_varbinary_max": b"",
    "c_uniqueidentifier": uuid.UUID("00000000-0000-0000-0000-000000000000"), "c_xml": "<e/>",
}
MAXIMA = {
    "c_bit": True, "c_tinyint": 255, "c_smallint": 32767, "c_int": 2147483647, "c_bigint": 9223372036854775807,
    "c_decimal": decimal.Decimal("9999999999999999999999999999.9999999999"),
    "c_numeric": decimal.Decimal("999999999999999999"), "c_money": decimal.Decimal("922337203685477.5807"),
    "c_smallmoney": decimal.Decimal("214748.3647"), "c_float": 1.79e308, "c_real": _real(3.40e38),
    "c_date": dt.date(9999, 12, 31), "c_time": dt.time(23, 59, 59, 999999),
    "c_datetime": dt.datetime(9999, 12, 31, 23, 59, 59, 997000), "c_smalldatetime": dt.datetime(2079, 6, 6, 23, 59),
    "c_datetime2": dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    "c_datetimeoffset": dt.datetime(9999, 12, 31, 9, 59, 59, 999999, tzinfo=_tz(14 * 60)),
    "c_char": "ZZZZZZZZZZ", "c_varchar": "x" * 50, "c_varchar_max": "long text " * 3000, "c_nchar": "東京" * 5,
    "c_nvarchar": "語" * 50, "c_nvarchar_max": "長い 😀 " * 4000, "c_binary": b"\xff" * 8,
    "c_varbinary": b"\x00\xff\x00\xff\x00", "c_varbinary_max": bytes(range(16)),
    "c_uniqueidentifier": uuid.UUID("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"),
    "c_xml": '<root><a b="1">x &amp; y</a></root>',
}
TYPICAL = {
    "c_bit": True, "c_tinyint": 42, "c_smallint": 1234, "c_int": 123456, "c_bigint": 1234567890123,
    "c_decimal": decimal.Decimal("12345.6789012345"), "c_numeric": decimal.Decimal("42"),
    "c_money": decimal.Decimal("19.9900"), "c_smallmoney": decimal.Decimal("5.2500"), "c_float": 3.141592653589793,
    "c_real": 2.5, "c_date": dt.date(2024, 2, 29), "c_time": dt.time(13, 45, 30, 123456),
    "c_datetime": dt.datetime(2024, 2, 29, 13, 45, 30, 123000), "c_smalldatetime": dt.datetime(2024, 2, 29, 13, 46),
    "c_datetime2": dt.datetime(2024, 2, 29, 13, 45, 30, 123456),
    "c_datetimeoffset": dt.datetime(2024, 2, 29, 13, 45, 30, 123456, tzinfo=_tz(5 * 60 + 30)),
    "c_char": "abc       ", "c_varchar": "café au lait", "c_varchar_max": "plain ascii", "c_nchar": "naïve     ",
    "c_nvarchar": "東京 😀 naïve Ünïcödé 𝄞", "c_nvarchar_max": "𝄞 non-BMP text 😀",
    "c_binary": b"\x00\x01\x00\x02\x00\x03\x00\x04", "c_varbinary": b"\x00\x00\x00\x00",
    "c_varbinary_max": b"\xde\xad\xbe\xef\x00", "c_uniqueidentifier": uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF"),
    "c_xml": "<p>hello</p>",
}
ROWS = {1: NULLS, 2: MINIMA, 3: MAXIMA, 4: TYPICAL}
DATE_TIME = ("c_date", "c_time", "c_datetime", "c_smalldatetime", "c_datetime2", "c_datetimeoffset")


def jdbc_text(name: str, value) -> str | None:
    """mssql-jdbc's getString() of a date/time value (how it formats what the server sent)."""
    if value is None:
        return None
    if name == "c_date":
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if name == "c_time":
        return value.strftime("%H:%M:%S.") + f"{value.microsecond:06d}0"
    stamp = f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}:{value.second:02d}."
    if name in ("c_datetime", "c_smalldatetime"):  # java.sql.Timestamp.toString()
        return stamp + (f"{value.microsecond:06d}".rstrip("0") or "0")
    text = stamp + f"{value.microsecond:06d}0"
    if name == "c_datetimeoffset":
        minutes = int(value.utcoffset().total_seconds() // 60)
        text += f" {'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return text


def test_sample_loader_loads_the_demo_database(demo, devservers):
    assert demo == {"dbo.customers": 500, "sales.orders": 2000, "sales.order_lines": 4000, "dbo.event_log": 5000,
                    "dbo.wide_table": 200, "dbo.all_types": 4, "dbo.special_types": 3, "dbo.[Order Details]": 50}
    with connect(devservers) as conn:
        cur = conn.cursor()
        cur.execute("SELECT full_name, city FROM dbo.customers WHERE customer_id = 3")
        assert cur.fetchall() == [("John Smith #3", "Zürich")]


def test_pymssql_reads_every_type_exactly(demo, devservers):
    """Every column of every row: NULLs, minima, maxima (TIME, DATETIMEOFFSET and UNIQUEIDENTIFIER
    extremes included) and typical values, as FreeTDS decodes what the stand-in sent."""
    with connect(devservers) as conn:
        cur = conn.cursor(as_dict=True)
        cur.execute("SELECT * FROM dbo.all_types ORDER BY id")
        rows = {r["id"]: r for r in cur.fetchall()}
    assert sorted(rows) == [1, 2, 3, 4]
    mismatches = []
    for row_id, expected in ROWS.items():
        got = rows[row_id]
        assert set(got) == set(expected) | {"id", "c_rowversion"}
        for name, value in expected.items():
            if got[name] != value or type(got[name]) is not type(value):
                mismatches.append(f"row {row_id} {name}: {got[name]!r} != {value!r}")
            elif isinstance(value, dt.datetime) and value.tzinfo is not None:
                if got[name].utcoffset() != value.utcoffset():  # equal instants are not enough
                    mismatches.append(f"row {row_id} {name}: offset {got[name].utcoffset()} != {value.utcoffset()}")
    assert not mismatches, "\n".join(mismatches)
    # ROWVERSION: 8 bytes, never NULL, different for every row, growing with every write.
    assert all(len(rows[i]["c_rowversion"]) == 8 for i in rows)
    versions = [int.from_bytes(rows[i]["c_rowversion"], "big") for i in (1, 2, 3, 4)]
    assert versions == sorted(versions) and len(set(versions)) == 4


def test_mssql_jdbc_through_spark_reads_every_type_exactly(demo, devservers, spark):
    """Every column of every row through mssql-jdbc in Spark. Date/time columns are read with the
    driver's getString() (customSchema STRING): java.sql.Date/Timestamp, Spark's default, shift
    dates before 1582 and Spark's TIME mapping drops fractions (both in
    test_known_peer_failures_reproduce_on_the_raw_jdbc_path), so the text shows exactly what the
    stand-in sent."""
    as_text = ", ".join(f"{c} STRING" for c in DATE_TIME)
    df = (spark.read.format("jdbc").options(**jdbc(devservers)).option("dbtable", "[dbo].[all_types]")
          .option("customSchema", as_text).load())
    types = dict(df.dtypes)
    assert types["c_decimal"] == "decimal(38,10)" and types["c_money"] == "decimal(19,4)"
    assert types["c_numeric"] == "decimal(18,0)" and types["c_smallmoney"] == "decimal(10,4)"
    assert types["c_bit"] == "boolean" and types["c_binary"] == "binary" and types["c_rowversion"] == "binary"
    assert types["c_real"] == "float" and types["c_float"] == "double" and types["c_bigint"] == "bigint"
    assert all(types[c] == "string" for c in DATE_TIME)
    rows = {r["id"]: r.asDict() for r in df.collect()}
    assert sorted(rows) == [1, 2, 3, 4]
    mismatches = []
    for row_id, expected in ROWS.items():
        for name, value in expected.items():
            got = rows[row_id][name]
            got = bytes(got) if isinstance(got, bytearray) else got
            if name in DATE_TIME:
                want = jdbc_text(name, value)
            elif name == "c_uniqueidentifier":
                want = None if value is None else str(value).upper()  # mssql-jdbc: upper-case text
            else:
                want = value
            if got != want:
                mismatches.append(f"row {row_id} {name}: {got!r} != {want!r}")
    assert not mismatches, "\n".join(mismatches)
    assert rows[3]["c_time"] == "23:59:59.9999990" and rows[2]["c_time"] == "00:00:00.0000000"
    assert rows[2]["c_datetimeoffset"] == "2000-01-01 00:00:00.0000000 -14:00"
    assert rows[3]["c_datetimeoffset"] == "9999-12-31 09:59:59.9999990 +14:00"
    assert rows[2]["c_uniqueidentifier"] == "00000000-0000-0000-0000-000000000000"
    assert rows[3]["c_uniqueidentifier"] == "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"
    assert [len(rows[i]["c_rowversion"]) for i in (1, 2, 3, 4)] == [8, 8, 8, 8]
    # Spark's own types for the date-times it holds exactly (after 1582).
    typed = {r["id"]: r.asDict() for r in spark.read.format("jdbc").options(**jdbc(devservers))
             .option("dbtable", "(SELECT id, c_date, c_datetime, c_smalldatetime, c_datetime2 FROM dbo.all_types "
                                "WHERE id IN (3, 4)) AS t").load().collect()}
    for row_id in (3, 4):
        for name in ("c_date", "c_datetime", "c_smalldatetime", "c_datetime2"):
            assert typed[row_id][name] == ROWS[row_id][name], (row_id, name)


def test_convert_style_121_keeps_the_column_type_through_min_and_max(demo, devservers):
    """CONVERT(VARCHAR, MAX(col), 121) formats as the column's type, as SQL Server does (the
    product's datetime watermark reads its high mark this way)."""
    with connect(devservers) as conn:
        cur = conn.cursor()
        cur.execute("SELECT CONVERT(VARCHAR(26), MAX(created_at), 121), CONVERT(VARCHAR(26), MIN(created_at), 121) "
                    "FROM dbo.customers")
        high, low = cur.fetchone()
        cur.execute("SELECT CONVERT(VARCHAR(27), MAX(c_datetime2), 121), CONVERT(VARCHAR(27), c_datetime2, 121) "
                    "FROM dbo.all_types WHERE id = 2 GROUP BY c_datetime2")
        dt2_max, dt2 = cur.fetchone()
        cur.execute("SELECT MAX(created_at), MIN(created_at) FROM dbo.customers")
        top, bottom = cur.fetchone()
    assert high == top.strftime("%Y-%m-%d %H:%M:%S.") + f"{top.microsecond // 1000:03d}"  # DATETIME2(3)
    assert low == bottom.strftime("%Y-%m-%d %H:%M:%S.") + f"{bottom.microsecond // 1000:03d}"
    assert dt2_max == dt2 == "0001-01-01 00:00:00.0000000"  # DATETIME2(7): seven digits, even when all 0


def test_partitioned_jdbc_read_covers_every_row_once(demo, devservers, spark):
    df = (spark.read.format("jdbc").options(**jdbc(devservers)).option("dbtable", "[sales].[orders]")
          .option("partitionColumn", "order_id").option("lowerBound", "100001").option("upperBound", "102000")
          .option("numPartitions", "4").option("fetchsize", "500").load())
    assert df.rdd.getNumPartitions() == 4
    ids = [r[0] for r in df.select("order_id").collect()]
    assert len(ids) == 2000 and len(set(ids)) == 2000


def test_known_peer_failures_reproduce_on_the_raw_jdbc_path(demo, devservers, spark):
    # Spark's JDBC source cannot read SQL_VARIANT columns at all ...
    with pytest.raises(Exception) as err:
        (spark.read.format("jdbc").options(**jdbc(devservers))
         .option("dbtable", "(SELECT id, anything FROM dbo.special_types) AS t").load().collect())
    assert re.search(r"Unrecognized SQL type.*-156", str(err.value))
    # ... and reads spatial columns only as opaque bytes (mssql-jdbc reports them as -158 / -157).
    raw = (spark.read.format("jdbc").options(**jdbc(devservers))
           .option("dbtable", "(SELECT id, location FROM dbo.special_types) AS t").load())
    assert dict(raw.dtypes)["location"] == "binary"
    # SQL Server's own STAsText() gives the text.
    wkt = (spark.read.format("jdbc").options(**jdbc(devservers))
           .option("dbtable", "(SELECT id, location.STAsText() AS wkt FROM dbo.special_types) AS t").load()
           .orderBy("id").collect())
    assert [r["wkt"] for r in wkt] == ["POINT(13.4 52.5)", "LINESTRING(0 0, 1 1)", None]
    # java.sql.Timestamp moves dates before 1582 by two days; the text form does not.
    shifted = (spark.read.format("jdbc").options(**jdbc(devservers)).option("dbtable", "[dbo].[all_types]").load()
               .where("id = 2").selectExpr("CAST(c_datetime2 AS STRING) AS v").collect()[0]["v"])
    assert shifted.startswith("0000-12-30") or shifted.startswith("0001-01-01")
    text = (spark.read.format("jdbc").options(**jdbc(devservers))
            .option("dbtable", "(SELECT CONVERT(VARCHAR(27), c_datetime2, 121) AS v FROM dbo.all_types WHERE id = 2) t")
            .load().collect()[0]["v"])
    assert text == "0001-01-01 00:00:00.0000000"
    # Spark maps TIME to a timestamp on 1970-01-01 through java.sql.Time: the fraction is gone
    # (the product converts TIME to text on the server instead).
    time_value = (spark.read.format("jdbc").options(**jdbc(devservers)).option("dbtable", "[dbo].[all_types]").load()
                  .where("id = 4").selectExpr("CAST(c_time AS STRING) AS v").collect()[0]["v"])
    assert time_value == "1970-01-01 13:45:30"


def test_production_style_tls_url_and_certificate_checking(demo, devservers, spark):
    tls = jdbc(devservers, "encrypt=true;trustServerCertificate=true")
    assert spark.read.format("jdbc").options(**tls).option("dbtable", "[dbo].[customers]").load().count() == 500
    checked = jdbc(devservers, "encrypt=true;trustServerCertificate=false")
    with pytest.raises(Exception) as err:
        spark.read.format("jdbc").options(**checked).option("dbtable", "[dbo].[customers]").load()
    assert "certificate" in str(err.value).lower() or "PKIX" in str(err.value)


def test_errors_carry_sql_server_numbers_and_the_server_keeps_serving(demo, devservers):
    with pytest.raises(pymssql.Error) as err:
        connect(devservers, password="wrong-password")
    assert "18456" in str(err.value) and "Login failed for user" in str(err.value)
    with pytest.raises(pymssql.Error) as err:
        connect(devservers, database="no_such_db")
    assert "18456" in str(err.value) or "4060" in str(err.value)
    with connect(devservers) as conn:
        cur = conn.cursor()
        for sql, number in (("SELECT * FROM dbo.no_such_table", 208), ("SELEC 1", 102),
                            ("SELECT no_such_column FROM dbo.customers", 207)):
            with pytest.raises(pymssql.Error) as err:
                cur.execute(sql)
            assert err.value.args[0] == number, sql
        cur.execute("SELECT COUNT(*) FROM dbo.customers")
        assert cur.fetchone()[0] == 500
    with connect(devservers) as other:
        cur = other.cursor()
        cur.execute("SELECT COUNT_BIG(*) FROM sales.orders")
        assert cur.fetchone()[0] == 2000


def test_prepared_statements_and_cancel_through_mssql_jdbc(demo, devservers, spark):
    """sp_executesql, then sp_prepexec/sp_execute on re-execution, and ATTENTION on a timeout."""
    jvm = spark.sparkContext._jvm
    opts = jdbc(devservers)
    # The driver comes from spark.jars, Spark's own class loader, so it is loaded through Spark.
    driver = jvm.org.apache.spark.util.Utils.classForName(opts["driver"], True, False).newInstance()
    props = jvm.java.util.Properties()
    props.setProperty("user", opts["user"])
    props.setProperty("password", opts["password"])
    conn = driver.connect(opts["url"], props)
    try:
        stmt = conn.prepareStatement("SELECT full_name FROM dbo.customers WHERE customer_id = ? AND city = ?")
        results = []
        for key, city in ((3, "Zürich"), (8, "Zürich"), (13, "Zürich")):
            stmt.setInt(1, key)
            stmt.setString(2, city)
            rs = stmt.executeQuery()
            while rs.next():
                results.append(rs.getString(1))
        assert results == ["John Smith #3", "佐藤 花子 #8", "José García #13"]
        big = conn.createStatement()
        rs = big.executeQuery("SELECT a.value FROM GENERATE_SERIES(1, 3000) a CROSS JOIN GENERATE_SERIES(1, 3000) b")
        assert rs.next()
        big.cancel()  # the driver sends ATTENTION; the server stops streaming and acknowledges it
        with pytest.raises(Exception) as err:
            for _ in range(9_000_000):
                if not rs.next():
                    break
        assert "cancel" in str(err.value).lower()
        check = conn.createStatement().executeQuery("SELECT COUNT(*) FROM dbo.customers")
        check.next()
        assert check.getInt(1) == 500  # the connection still works after the ATTENTION
    finally:
        conn.close()


def test_concurrent_connections_are_served_in_parallel(demo, devservers):
    counts, errors = [], []

    def read():
        try:
            with connect(devservers) as conn:
                cur = conn.cursor()
                cur.execute("SELECT COUNT(*) FROM dbo.event_log WHERE level = 'INFO'")
                counts.append(cur.fetchone()[0])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and counts == [counts[0]] * 6 and counts[0] > 0


def test_change_tracking_and_rowversion_follow_sql_server(devservers):
    with connect(devservers, database="master") as conn:
        conn.cursor().execute("IF DB_ID('ct_probe') IS NULL CREATE DATABASE ct_probe")
        try:
            conn.cursor().execute("ALTER DATABASE ct_probe SET CHANGE_TRACKING = ON")
        except pymssql.Error as exc:
            assert "5088" in str(exc)  # already on
    with connect(devservers, database="ct_probe") as conn:
        cur = conn.cursor()
        cur.execute("IF OBJECT_ID('dbo.t') IS NOT NULL DROP TABLE dbo.t")
        cur.execute("CREATE TABLE dbo.t (id INT NOT NULL PRIMARY KEY, v NVARCHAR(10), rv ROWVERSION)")
        cur.execute("ALTER TABLE dbo.t ENABLE CHANGE_TRACKING")
        cur.execute("SELECT CHANGE_TRACKING_CURRENT_VERSION()")
        start = cur.fetchone()[0]
        cur.execute("INSERT INTO dbo.t (id, v) VALUES (1, N'a'), (2, N'b'), (3, N'c')")
        cur.execute("SELECT CAST(rv AS BIGINT) FROM dbo.t WHERE id = 2")
        before = cur.fetchone()[0]
        cur.execute("UPDATE dbo.t SET v = N'bb' WHERE id = 2")
        cur.execute("DELETE FROM dbo.t WHERE id = 3")
        cur.execute("SELECT CAST(rv AS BIGINT) FROM dbo.t WHERE id = 2")
        assert cur.fetchone()[0] > before
        cur.execute(f"SELECT id, SYS_CHANGE_OPERATION FROM CHANGETABLE(CHANGES dbo.t, {start}) AS ct ORDER BY id")
        assert cur.fetchall() == [(1, "I"), (2, "I"), (3, "D")]
        cur.execute("SELECT CHANGE_TRACKING_CURRENT_VERSION()")
        after_insert = cur.fetchone()[0]
        cur.execute("UPDATE dbo.t SET v = N'aa' WHERE id = 1")
        cur.execute(f"SELECT id, SYS_CHANGE_OPERATION FROM CHANGETABLE(CHANGES dbo.t, {after_insert}) AS ct")
        assert cur.fetchall() == [(1, "U")]
        cur.execute("SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID('dbo.t'))")
        assert cur.fetchone()[0] <= start
