"""The StarRocks conformance cases' two clients: the MySQL protocol (pymysql) and Stream Load
over HTTP, as a StarRocks user reaches them (FE answers 307 to a BE, Basic auth on both)."""

from __future__ import annotations

import pymysql
import requests


def connect(devservers):
    """A pymysql connection to the stand-in's query port, autocommit on."""
    return pymysql.connect(host=devservers["STARROCKS_HOST"], port=int(devservers["STARROCKS_QUERY_PORT"]),
                           user=devservers["STARROCKS_USER"], password=devservers["STARROCKS_PASSWORD"],
                           autocommit=True, charset="utf8mb4")


def fe_url(devservers, db: str, table: str) -> str:
    return f"http://{devservers['STARROCKS_HOST']}:{devservers['STARROCKS_HTTP_PORT']}/api/{db}/{table}/_stream_load"


def auth(devservers) -> tuple[str, str]:
    return devservers["STARROCKS_USER"], devservers["STARROCKS_PASSWORD"]


def stream_load(devservers, db: str, table: str, body: bytes, **headers: str) -> dict:
    """One Stream Load: the FE's 307 to a BE (asserted), then the body to the BE; its JSON reply."""
    headers = {"Expect": "100-continue", **{name: str(value) for name, value in headers.items()}}
    redirect = requests.put(fe_url(devservers, db, table), headers=headers, auth=auth(devservers),
                            allow_redirects=False, timeout=30)
    assert redirect.status_code == 307, redirect.text
    return requests.put(redirect.headers["Location"], data=body, headers=headers, auth=auth(devservers),
                        timeout=60).json()
