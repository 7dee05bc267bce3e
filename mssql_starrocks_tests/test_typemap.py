"""The type mapping: byte lengths, lossless conversions, refusals by name."""

import pytest

from mssql_starrocks.mapping import typemap
from mssql_starrocks.mapping.typemap import SourceColumn, columns_for


def one(data_type, **kw):
    cols = columns_for(SourceColumn(name="C", data_type=data_type, **kw), "c")
    assert len(cols) == 1
    return cols[0]


def test_nvarchar_length_counts_utf8_bytes_not_characters():
    col = one("nvarchar", max_length=50)
    assert col.starrocks_type == "VARCHAR(150)"
    # The seed's n*2 rule is too short: 50 CJK characters are 150 UTF-8 bytes.
    assert len(("中" * 50).encode("utf-8")) == 150


def test_varchar_and_max_lengths_are_capped_at_starrocks_maximum():
    assert one("varchar", max_length=10).starrocks_type == "VARCHAR(30)"
    assert one("nvarchar", max_length=-1).starrocks_type == "VARCHAR(1048576)"
    assert one("varchar", max_length=8000).starrocks_type == "VARCHAR(24000)"
    assert one("ntext").starrocks_type == "VARCHAR(1048576)"


def test_tinyint_is_widened_because_starrocks_tinyint_is_signed():
    assert one("tinyint").starrocks_type == "SMALLINT"


def test_exact_numeric_types():
    assert one("decimal", precision=38, scale=10).starrocks_type == "DECIMAL(38,10)"
    assert one("money").spark_type == "decimal(19,4)"
    assert one("smallmoney").starrocks_type == "DECIMAL(10,4)"
    assert one("float", precision=53).starrocks_type == "DOUBLE"
    assert one("float", precision=24).starrocks_type == "FLOAT"


def test_server_side_conversions_for_types_drivers_get_wrong():
    assert one("geography").select_sql == "[C].STAsText()"
    assert one("hierarchyid").select_sql == "[C].ToString()"
    assert one("uniqueidentifier").select_sql == "LOWER(CONVERT(CHAR(36), [C]))"
    assert one("timestamp").select_sql == "CAST([C] AS BIGINT)"
    assert one("sql_variant").select_sql == "CAST([C] AS NVARCHAR(MAX))"
    assert one("xml").select_sql == "CAST([C] AS NVARCHAR(MAX))"
    assert one("time", scale=7).select_sql == "CAST([C] AS VARCHAR(16))"


def test_datetimeoffset_keeps_its_offset_in_a_companion_column():
    cols = columns_for(SourceColumn(name="At", data_type="datetimeoffset", scale=7), "at")
    assert [c.name for c in cols] == ["at", "at" + typemap.OFFSET_SUFFIX]
    assert cols[0].select_sql == "CONVERT(VARCHAR(27), CONVERT(DATETIME2(7), [At], 1), 121)"  # style 1: to UTC
    assert cols[0].iceberg_type == "timestamptz"
    assert cols[1].select_sql == "DATEPART(TZOFFSET, [At])"


def test_date_times_travel_as_text_so_old_dates_do_not_shift():
    # java.sql.Timestamp (what mssql-jdbc gives Spark) moves 0001-01-01 to 0000-12-30.
    assert one("datetime2", scale=7).select_sql == "CONVERT(VARCHAR(27), [C], 121)"
    assert one("datetime").select_sql == "CONVERT(VARCHAR(27), [C], 121)"
    assert one("date").select_sql == "[C]"


def test_names_with_brackets_are_escaped_in_the_select():
    col = columns_for(SourceColumn(name="we]ird", data_type="int"), "we_ird")[0]
    assert col.select_sql == "[we]]ird]"


def test_unknown_type_is_refused_by_name():
    with pytest.raises(typemap.UnsupportedTypeError, match="CURSOR"):
        columns_for(SourceColumn(name="c", data_type="cursor"), "c")


def test_declared_type_text():
    assert SourceColumn("c", "nvarchar", max_length=-1).declared == "NVARCHAR(MAX)"
    assert SourceColumn("c", "decimal", precision=19, scale=4).declared == "DECIMAL(19,4)"
    assert SourceColumn("c", "datetime2", scale=3).declared == "DATETIME2(3)"


def test_markdown_table_has_a_row_per_rule():
    md = typemap.render_markdown()
    assert md.count("\n") == len(typemap.RULES) + 1
    assert "| UNIQUEIDENTIFIER | string | VARCHAR(36) |" in md
