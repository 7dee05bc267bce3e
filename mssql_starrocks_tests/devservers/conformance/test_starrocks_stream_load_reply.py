"""The Stream Load protocol and reply: FE 307 to a BE, Basic auth, the documented reply fields."""

from __future__ import annotations

import pytest
import requests

from mssql_starrocks_tests.devservers.conformance import starrocks_client
from mssql_starrocks_tests.devservers.conformance.starrocks_client import connect, stream_load, auth

DB = "cf_sr_slreply"
SL = "https://docs.starrocks.io/docs/sql-reference/sql-statements/loading_unloading/STREAM_LOAD/"
FIELDS = ["TxnId", "Label", "Status", "Message", "NumberTotalRows", "NumberLoadedRows", "NumberFilteredRows",
          "NumberUnselectedRows", "LoadBytes", "LoadTimeMs", "BeginTxnTimeMs", "StreamLoadPlanTimeMs",
          "ReadDataTimeMs", "WriteDataTimeMs", "CommitAndPublishTimeMs"]


@pytest.fixture(scope="module")
def cur(devservers):
    conn = connect(devservers)
    c = conn.cursor()
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    c.execute(f"CREATE DATABASE {DB}")
    c.execute(f"CREATE TABLE {DB}.t (id INT NOT NULL, v VARCHAR(3)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)")
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")
    conn.close()


def fe_url(devservers, table: str = "t") -> str:
    return starrocks_client.fe_url(devservers, DB, table)


def load(devservers, body: bytes, table: str = "t", **headers) -> dict:
    return stream_load(devservers, DB, table, body, **headers)


@pytest.mark.doc(SL)
def test_fe_redirects_to_a_be_with_307(devservers, cur):
    reply = requests.put(fe_url(devservers), headers={"Expect": "100-continue", "label": "sl_redirect"},
                         auth=auth(devservers), allow_redirects=False, timeout=30)
    assert reply.status_code == 307
    location = reply.headers["Location"]
    assert location.startswith("http://") and location.endswith(f"/api/{DB}/t/_stream_load")
    assert str(devservers["STARROCKS_HTTP_PORT"]) not in location.split("/")[2]


@pytest.mark.doc(SL)
def test_success_reply_has_every_documented_field(devservers, cur):
    body = b"1\ta\n2\tb\n"
    reply = load(devservers, body, label="sl_fields_ok")
    assert all(f in reply for f in FIELDS), sorted(set(FIELDS) - set(reply))
    assert reply["Status"] == "Success" and reply["Message"] == "OK"
    assert reply["Label"] == "sl_fields_ok" and isinstance(reply["TxnId"], int)
    assert (reply["NumberTotalRows"], reply["NumberLoadedRows"], reply["NumberFilteredRows"],
            reply["NumberUnselectedRows"]) == (2, 2, 0, 0)
    assert reply["LoadBytes"] == len(body)
    assert "ErrorURL" not in reply


@pytest.mark.doc(SL)
def test_failed_reply_names_the_rejected_rows(devservers, cur):
    reply = load(devservers, b"3\ttoolong\n4\tok\n", label="sl_fields_fail")
    assert reply["Status"] == "Fail"
    assert reply["Message"] and reply["NumberTotalRows"] == 2 and reply["NumberFilteredRows"] == 1
    log = requests.get(reply["ErrorURL"], timeout=10)
    assert log.status_code == 200 and "toolong" in log.text
    cur.execute(f"SELECT COUNT(*) FROM {DB}.t WHERE id IN (3, 4)")
    assert cur.fetchone() == (0,)


@pytest.mark.doc(SL)
def test_failed_reply_keeps_the_field_set(devservers, cur):
    reply = load(devservers, b"5\ttoolong\n", label="sl_fields_fail2")
    assert all(f in reply for f in FIELDS if f != "Message") and reply["Status"] == "Fail"


@pytest.mark.doc(SL)
def test_a_label_is_generated_when_none_is_given(devservers, cur):
    reply = load(devservers, b"6\tc\n")
    assert reply["Status"] == "Success" and reply["Label"]


@pytest.mark.doc(SL)
def test_wrong_password_is_refused(devservers, cur):
    reply = requests.put(fe_url(devservers), headers={"Expect": "100-continue"},
                         auth=(devservers["STARROCKS_USER"], "wrong"), allow_redirects=False, timeout=30)
    assert reply.status_code == 401


@pytest.mark.doc(SL)
def test_without_expect_100_continue_the_fe_refuses(devservers, cur):
    reply = requests.put(fe_url(devservers), data=b"7\td\n", auth=auth(devservers), allow_redirects=False,
                         timeout=30)
    assert reply.status_code != 307
    assert "100-continue" in reply.text


@pytest.mark.doc(SL)
def test_unknown_table_fails_the_load(devservers, cur):
    headers = {"Expect": "100-continue"}
    be = requests.put(fe_url(devservers, "nope"), headers=headers, auth=auth(devservers),
                      allow_redirects=False, timeout=30).headers.get("Location")
    reply = requests.put(be, data=b"1\n", headers=headers, auth=auth(devservers), timeout=30).json()
    assert reply["Status"] == "Fail" and "nope" in reply["Message"]


@pytest.mark.doc(SL)
def test_curl_location_trusted_loads(devservers, cur, tmp_path):
    import json
    import subprocess

    data = tmp_path / "rows.csv"
    data.write_bytes(b"8,e\n")
    out = subprocess.run(["curl", "-s", "--location-trusted", "-u",
                          f"{devservers['STARROCKS_USER']}:{devservers['STARROCKS_PASSWORD']}",
                          "-H", "Expect:100-continue", "-H", "column_separator:,", "-H", "label:sl_curl",
                          "-T", str(data), "-XPUT", fe_url(devservers)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    reply = json.loads(out)
    assert reply["Status"] == "Success" and reply["Label"] == "sl_curl"


@pytest.mark.doc(SL)
def test_empty_body_fails(devservers, cur):
    reply = load(devservers, b"", label="sl_empty")
    assert reply["Status"] == "Fail"


@pytest.mark.doc(SL)
def test_the_be_checks_credentials_too(devservers, cur):
    headers = {"Expect": "100-continue"}
    be = requests.put(fe_url(devservers), headers=headers, auth=auth(devservers), allow_redirects=False,
                      timeout=30).headers["Location"]
    reply = requests.put(be, data=b"9\tz\n", headers=headers, auth=(devservers["STARROCKS_USER"], "wrong"),
                         timeout=30)
    assert reply.status_code == 401
    cur.execute(f"SELECT COUNT(*) FROM {DB}.t WHERE id = 9")
    assert cur.fetchone() == (0,)
