"""Error numbers, severities and texts as "Database engine events and errors" documents them,
read through python-tds (which exposes number, severity and text) and pymssql."""

from __future__ import annotations

import pytds
import pytest

from mssql_starrocks_tests.devservers.conformance.test_mssql_tsql import connect, demo_database  # noqa: F401

EVENTS = "https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/"
E0 = EVENTS + "database-engine-events-and-errors-0-to-999"
E2000 = EVENTS + "database-engine-events-and-errors-2000-to-2999"
E4000 = EVENTS + "database-engine-events-and-errors-4000-to-4999"
E8000 = EVENTS + "database-engine-events-and-errors-8000-to-8999"
E18000 = EVENTS + "database-engine-events-and-errors-18000-to-18999"
MSSQLSERVER_18456 = EVENTS + "mssqlserver-18456-database-engine-error"


@pytest.fixture
def tds(devservers):
    conn = pytds.connect(server=devservers["MSSQL_HOST"], port=int(devservers["MSSQL_PORT"]),
                         user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"],
                         database=devservers["MSSQL_DATABASE"], autocommit=True)
    yield conn
    conn.close()


def error_of(conn, sql) -> pytds.tds_base.DatabaseError:
    cur = conn.cursor()
    with pytest.raises(pytds.tds_base.DatabaseError) as info:
        cur.execute(sql)
        cur.fetchall()
    return info.value


@pytest.fixture
def keyed(tds):
    cur = tds.cursor()
    cur.execute("CREATE TABLE conf_err_1 (id INT PRIMARY KEY, name NVARCHAR(5) NOT NULL)")
    cur.execute("INSERT INTO conf_err_1 VALUES (1, N'a')")
    yield cur
    tds.cursor().execute("DROP TABLE conf_err_1")


@pytest.mark.doc(E0)
def test_102_incorrect_syntax(tds):
    e = error_of(tds, "SELECT * FROM WHERE")
    assert (e.number, e.severity) == (102, 15)
    assert e.text.startswith("Incorrect syntax near")


@pytest.mark.doc(E0)
def test_207_invalid_column(tds, keyed):
    e = error_of(tds, "SELECT no_such_column FROM conf_err_1")
    assert (e.number, e.severity, e.text) == (207, 16, "Invalid column name 'no_such_column'.")


@pytest.mark.doc(E0)
def test_208_invalid_object(tds):
    e = error_of(tds, "SELECT * FROM dbo.conf_err_missing")
    assert (e.number, e.severity, e.text) == (208, 16, "Invalid object name 'dbo.conf_err_missing'.")


@pytest.mark.doc(E0)
def test_245_conversion_failed(tds):
    e = error_of(tds, "SELECT CAST('abc' AS INT)")
    assert (e.number, e.severity) == (245, 16)
    assert e.text == "Conversion failed when converting the varchar value 'abc' to data type int."


@pytest.mark.doc(E0)
def test_515_null_into_not_null_column(tds, keyed):
    e = error_of(tds, "INSERT INTO conf_err_1 VALUES (2, NULL)")
    assert (e.number, e.severity) == (515, 16)
    assert e.text == ("Cannot insert the value NULL into column 'name', table 'demo.dbo.conf_err_1'; column does "
                      "not allow nulls. INSERT fails.")


@pytest.mark.doc(E0)
def test_137_undeclared_variable(tds):
    e = error_of(tds, "SELECT @nope")
    assert (e.number, e.severity, e.text) == (137, 15, 'Must declare the scalar variable "@nope".')


@pytest.mark.doc(E2000)
def test_2627_duplicate_key(tds, keyed):
    e = error_of(tds, "INSERT INTO conf_err_1 VALUES (1, N'b')")
    assert (e.number, e.severity) == (2627, 14)
    assert e.text.startswith("Violation of PRIMARY KEY constraint '")
    assert e.text.endswith("Cannot insert duplicate key in object 'dbo.conf_err_1'. The duplicate key value is (1).")


@pytest.mark.doc(E2000)
def test_2628_truncation(tds, keyed):
    e = error_of(tds, "INSERT INTO conf_err_1 VALUES (2, N'abcdefgh')")
    assert (e.number, e.severity) == (2628, 16)
    assert e.text == ("String or binary data would be truncated in table 'demo.dbo.conf_err_1', column 'name'. "
                      "Truncated value: 'abcde'.")


@pytest.mark.doc(E2000)
def test_2714_object_exists(tds, keyed):
    e = error_of(tds, "CREATE TABLE conf_err_1 (id INT)")
    assert (e.number, e.severity) == (2714, 16)
    assert e.text == "There is already an object named 'conf_err_1' in the database."


@pytest.mark.doc(E2000)
def test_2812_unknown_procedure(tds):
    e = error_of(tds, "EXEC dbo.conf_err_no_such_proc")
    assert (e.number, e.severity) == (2812, 16)
    assert e.text == "Could not find stored procedure 'dbo.conf_err_no_such_proc'."


@pytest.mark.doc(E8000)
def test_8134_divide_by_zero(tds):
    e = error_of(tds, "SELECT 1 / 0")
    assert (e.number, e.severity, e.text) == (8134, 16, "Divide by zero error encountered.")


@pytest.mark.doc(E8000)
def test_8134_modulo_by_zero(tds):
    e = error_of(tds, "SELECT 5 % 0")
    assert e.number == 8134


@pytest.mark.doc(E8000)
def test_8134_on_a_row_value(tds, keyed):
    e = error_of(tds, "SELECT id / (id - 1) FROM conf_err_1")
    assert e.number == 8134


@pytest.mark.doc(E8000)
def test_8115_numeric_overflow(tds):
    e = error_of(tds, "SELECT CAST(123.45 AS DECIMAL(4, 2))")
    assert (e.number, e.severity) == (8115, 16)
    assert e.text == "Arithmetic overflow error converting numeric to data type numeric."


@pytest.mark.doc(E8000)
def test_8115_integer_overflow(tds):
    e = error_of(tds, "SELECT 2147483647 + 1")
    assert (e.number, e.severity) == (8115, 16)
    assert e.text == "Arithmetic overflow error converting expression to data type int."


@pytest.mark.doc(MSSQLSERVER_18456)
def test_18456_wrong_password(devservers):
    with pytest.raises(pytds.tds_base.DatabaseError) as info:
        pytds.connect(server=devservers["MSSQL_HOST"], port=int(devservers["MSSQL_PORT"]),
                      user=devservers["MSSQL_USER"], password="wrong-password", database="master")
    assert (info.value.number, info.value.severity) == (18456, 14)
    assert info.value.text == f"Login failed for user '{devservers['MSSQL_USER']}'."


@pytest.mark.doc(E4000)
def test_4060_unknown_database(devservers):
    with pytest.raises(pytds.tds_base.DatabaseError) as info:
        pytds.connect(server=devservers["MSSQL_HOST"], port=int(devservers["MSSQL_PORT"]),
                      user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"],
                      database="conf_err_no_such_db")
    # python-tds joins the messages of the login response: 4060 first, then 18456.
    assert str(info.value.args[0]).startswith(
        'Cannot open database "conf_err_no_such_db" requested by the login. The login failed.')


@pytest.mark.doc(E0)
def test_session_survives_an_error(tds):
    error_of(tds, "SELECT 1 / 0")
    cur = tds.cursor()
    cur.execute("SELECT 42")
    assert cur.fetchone()[0] == 42
