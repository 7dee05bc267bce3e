"""Character lengths: nchar/nvarchar(n) count UTF-16 byte-pairs (a supplementary character is
two), LEN ignores trailing blanks, DATALENGTH counts bytes, and a value too long for its column is
error 2628 showing the value as it would have been cut."""

from __future__ import annotations

import pytest

from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import demo_database, fails, one  # noqa: F401

NCHAR = "https://learn.microsoft.com/en-us/sql/t-sql/data-types/nchar-and-nvarchar-transact-sql"
CHAR = "https://learn.microsoft.com/en-us/sql/t-sql/data-types/char-and-varchar-transact-sql"
LEN = "https://learn.microsoft.com/en-us/sql/t-sql/functions/len-transact-sql"
DATALENGTH = "https://learn.microsoft.com/en-us/sql/t-sql/functions/datalength-transact-sql"
ERRORS_2000 = ("https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/"
               "database-engine-events-and-errors-2000-to-2999")
EMOJI = "\U0001F600"


@pytest.fixture
def texts(mssql):
    cur = mssql.cursor()
    cur.execute("CREATE TABLE conf_len_1 (id INT PRIMARY KEY, n1 NVARCHAR(1), n2 NVARCHAR(2), v3 VARCHAR(3), "
                "c5 CHAR(5), nc3 NCHAR(3))")
    yield cur
    cur.execute("DROP TABLE conf_len_1")


@pytest.mark.doc(NCHAR)
def test_supplementary_character_fills_two_byte_pairs(texts, mssql):
    texts.execute(f"INSERT INTO conf_len_1 (id, n2) VALUES (1, N'{EMOJI}')")
    assert one(mssql, "SELECT n2 FROM conf_len_1 WHERE id = 1") == EMOJI


@pytest.mark.doc(NCHAR)
def test_supplementary_character_does_not_fit_nvarchar_1(texts, mssql):
    number, message = fails(mssql, f"INSERT INTO conf_len_1 (id, n1) VALUES (1, N'{EMOJI}')")
    assert number == 2628


@pytest.mark.doc(NCHAR)
def test_two_supplementary_characters_overflow_nvarchar_2(texts, mssql):
    number, _ = fails(mssql, f"INSERT INTO conf_len_1 (id, n2) VALUES (1, N'a{EMOJI}')")
    assert number == 2628


@pytest.mark.doc(ERRORS_2000)
def test_2628_names_table_column_and_the_truncated_value(texts, mssql):
    number, message = fails(mssql, "INSERT INTO conf_len_1 (id, v3) VALUES (1, 'abcdef')")
    assert number == 2628
    assert "String or binary data would be truncated in table 'demo.dbo.conf_len_1', column 'v3'." in message
    assert "Truncated value: 'abc'." in message


@pytest.mark.doc(CHAR)
def test_trailing_blanks_past_the_length_are_dropped_without_error(texts, mssql):
    texts.execute("INSERT INTO conf_len_1 (id, v3) VALUES (1, 'abc     ')")
    assert one(mssql, "SELECT v3 FROM conf_len_1 WHERE id = 1") == "abc"


@pytest.mark.doc(CHAR)
def test_char_is_padded_to_its_length(texts, mssql):
    texts.execute("INSERT INTO conf_len_1 (id, c5) VALUES (1, 'ab')")
    assert one(mssql, "SELECT c5 FROM conf_len_1 WHERE id = 1") == "ab   "


@pytest.mark.doc(LEN)
def test_len_of_padded_char_column(texts, mssql):
    texts.execute("INSERT INTO conf_len_1 (id, c5) VALUES (1, 'ab')")
    assert one(mssql, "SELECT LEN(c5) FROM conf_len_1") == 2


@pytest.mark.doc(DATALENGTH)
def test_datalength_of_padded_char_column(texts, mssql):
    texts.execute("INSERT INTO conf_len_1 (id, c5) VALUES (1, 'ab')")
    assert one(mssql, "SELECT DATALENGTH(c5) FROM conf_len_1") == 5


@pytest.mark.doc(DATALENGTH)
def test_datalength_of_nchar_column(texts, mssql):
    texts.execute("INSERT INTO conf_len_1 (id, nc3) VALUES (1, N'a')")
    assert one(mssql, "SELECT DATALENGTH(nc3) FROM conf_len_1") == 6


@pytest.mark.doc(LEN)
def test_len_counts_a_supplementary_character_as_two(texts, mssql):
    texts.execute(f"INSERT INTO conf_len_1 (id, n2) VALUES (1, N'{EMOJI}')")
    assert one(mssql, "SELECT LEN(n2) FROM conf_len_1") == 2


@pytest.mark.doc(DATALENGTH)
def test_datalength_of_a_supplementary_character(texts, mssql):
    texts.execute(f"INSERT INTO conf_len_1 (id, n2) VALUES (1, N'{EMOJI}')")
    assert one(mssql, "SELECT DATALENGTH(n2) FROM conf_len_1") == 4


@pytest.mark.doc(DATALENGTH)
def test_datalength_keeps_trailing_blanks_of_a_varchar_column(texts, mssql):
    texts.execute("INSERT INTO conf_len_1 (id, v3) VALUES (1, 'a  ')")
    assert one(mssql, "SELECT DATALENGTH(v3) FROM conf_len_1") == 3
    assert one(mssql, "SELECT LEN(v3) FROM conf_len_1") == 1


@pytest.mark.doc(ERRORS_2000)
def test_error_text_with_a_supplementary_character_keeps_the_session(texts, mssql):
    number, message = fails(mssql, f"INSERT INTO conf_len_1 (id, n1) VALUES (1, N'{EMOJI}{EMOJI}')")
    assert number == 2628
    assert one(mssql, "SELECT 1") == 1


@pytest.mark.doc(NCHAR)
def test_nvarchar_keeps_text_outside_code_page(texts, mssql):
    texts.execute("INSERT INTO conf_len_1 (id, n2) VALUES (1, N'Жж')")
    assert one(mssql, "SELECT n2 FROM conf_len_1") == "Жж"
