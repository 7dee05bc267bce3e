"""Fault injection in front of moto: AWS's own error replies, or a request held in flight.

`POST /_devservers/fault` with JSON
  {"service": "s3"|"glue", "operation": "PutObject"|"UpdateTable"|..., "key_contains": "...",
   "database": "...", "table": "...", "error": "SlowDown"|..., "kind": "error"|"hold"|"clear",
   "times": 1, "delay_ms": 60000}
adds a rule; every field but `service` is optional and narrows what it matches (`key_contains`
is a substring of the S3 object key, `database`/`table` name the Glue table a request is about).
`kind: error` answers matching requests with `error`'s real AWS reply instead of passing them
on; `kind: hold` keeps a matching request waiting (up to `delay_ms`) until
`POST /_devservers/release`, then passes it on: what happens meanwhile is what a concurrent
client does between another client's read and its write. `times` counts firings (0 = until
cleared); `{"kind": "clear"}` removes every rule. `GET /_devservers/faults` lists the rules with
how often each fired, the requests held now, and every firing (`log`).
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from urllib.parse import parse_qs

# (HTTP status, message) of AWS's error replies, by error code.
S3_ERRORS = {
    "SlowDown": (503, "Please reduce your request rate."),
    "ServiceUnavailable": (503, "Service is unable to handle request."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "AccessDenied": (403, "Access Denied"),
}
GLUE_ERRORS = {
    "ConcurrentModificationException": (400, "Update table failed due to concurrent modifications."),
    "InternalServiceException": (500, "Internal service error."),
    "ThrottlingException": (400, "Rate exceeded"),
    "OperationTimeoutException": (400, "Operation timed out."),
    "AccessDeniedException": (400, "User is not authorized to perform this operation."),
}
CONTROL = "/_devservers/"


def s3_operation(method: str, path: str, query: dict) -> tuple[str, str]:
    """(operation, object key) of a path-style S3 request."""
    bucket, _, key = path.lstrip("/").partition("/")
    if not key:
        return {"GET": "ListObjectsV2" if "list-type" in query else "ListObjects", "PUT": "CreateBucket",
                "HEAD": "HeadBucket", "DELETE": "DeleteBucket",
                "POST": "DeleteObjects" if "delete" in query else "PostBucket"}.get(method, method), ""
    if method == "PUT":
        return ("UploadPart" if "partNumber" in query else "PutObject"), key
    if method == "POST":
        return ("CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"), key
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method), key


def glue_subject(body: dict) -> tuple[str, str]:
    table = body.get("Name") or body.get("TableName") or (body.get("TableInput") or {}).get("Name") or ""
    return body.get("DatabaseName") or "", table


class FaultFront:
    """WSGI middleware: matching requests get a fault, the rest go to moto unchanged."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.rules: list[dict] = []
        self.log: list[dict] = []
        self.released = threading.Condition(self.lock)
        self.held: list[dict] = []

    # --- control ----------------------------------------------------------------------------
    def _control(self, environ, start_response):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if method == "GET" and path == CONTROL + "faults":
            with self.lock:
                return _json(start_response, 200, {"rules": self.rules, "held": self.held, "log": self.log})
        spec = json.loads(_read_body(environ) or b"{}")
        if method == "POST" and path == CONTROL + "release":
            with self.lock:
                for held in self.held:
                    held["released"] = True
                self.released.notify_all()
            return _json(start_response, 200, {"status": "OK"})
        if method != "POST" or path != CONTROL + "fault":
            return _json(start_response, 404, {"status": "FAILED", "msg": f"unknown control path {path}"})
        kind = spec.get("kind", "error")
        with self.lock:
            if kind == "clear":
                self.rules.clear()
                self.log.clear()
                return _json(start_response, 200, {"status": "OK"})
            errors = S3_ERRORS if spec.get("service") == "s3" else GLUE_ERRORS
            if spec.get("service") not in ("s3", "glue") or kind not in ("error", "hold") or (
                    kind == "error" and spec.get("error") not in errors):
                return _json(start_response, 400, {"status": "FAILED", "msg": f"bad fault {spec}; errors: "
                                                   f"s3 {sorted(S3_ERRORS)}, glue {sorted(GLUE_ERRORS)}"})
            rule = {"id": len(self.rules) + 1, "service": spec["service"], "kind": kind, "error": spec.get("error"),
                    "operation": spec.get("operation"), "key_contains": spec.get("key_contains"),
                    "database": spec.get("database"), "table": spec.get("table"),
                    "times": int(spec.get("times", 1)), "delay_ms": int(spec.get("delay_ms", 60000)), "fired": 0}
            self.rules.append(rule)
        return _json(start_response, 200, {"status": "OK", "id": rule["id"]})

    # --- requests ---------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL):
            return self._control(environ, start_response)
        if not self.rules:
            return self.app(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("AWSGlue."):
            body = _read_body(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            try:
                database, table = glue_subject(json.loads(body or b"{}"))
            except ValueError:
                database, table = "", ""
            request = {"service": "glue", "operation": target.split(".", 1)[1], "database": database,
                       "table": table, "key": ""}
        else:
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            operation, key = s3_operation(environ["REQUEST_METHOD"], path, query)
            request = {"service": "s3", "operation": operation, "key": key, "database": "", "table": "",
                       "method": environ["REQUEST_METHOD"]}
        rule = self._fire(request)
        if rule is None:
            return self.app(environ, start_response)
        if rule["kind"] == "hold":
            self._hold(request, rule)
            return self.app(environ, start_response)
        _read_body(environ)  # drain it, so the connection stays usable
        return _aws_error(start_response, request["service"], rule["error"], request)

    def _fire(self, request: dict) -> dict | None:
        with self.lock:
            for rule in self.rules:
                if rule["service"] != request["service"] or (rule["times"] and rule["fired"] >= rule["times"]):
                    continue
                if rule["operation"] and rule["operation"] != request["operation"]:
                    continue
                if rule["key_contains"] and rule["key_contains"] not in request["key"]:
                    continue
                if (rule["database"] and rule["database"] != request["database"]) or (
                        rule["table"] and rule["table"] != request["table"]):
                    continue
                rule["fired"] += 1
                self.log.append({**request, "rule": rule["id"], "kind": rule["kind"], "error": rule["error"],
                                 "at": time.time()})
                return rule
        return None

    def _hold(self, request: dict, rule: dict) -> None:
        entry = {**request, "rule": rule["id"], "since": time.time(), "released": False}
        deadline = time.monotonic() + rule["delay_ms"] / 1000
        with self.lock:
            self.held.append(entry)
            while not entry["released"] and time.monotonic() < deadline:
                self.released.wait(timeout=max(0.0, deadline - time.monotonic()))
            self.held.remove(entry)


def _read_body(environ) -> bytes:
    if environ.get("wsgi.input_terminated"):  # chunked transfer encoding: read to its end
        return environ["wsgi.input"].read()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _json(start_response, status: int, payload: dict):
    body = json.dumps(payload, default=str).encode()
    start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _aws_error(start_response, service: str, code: str, request: dict):
    """The error reply exactly as AWS shapes it: S3's XML <Error>, Glue's JSON 1.1 __type."""
    request_id = uuid.uuid4().hex.upper()[:16]
    if service == "s3":
        status, message = S3_ERRORS[code]
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId>"
                f"<HostId>{uuid.uuid4().hex}</HostId></Error>").encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    else:
        status, message = GLUE_ERRORS[code]
        body = json.dumps({"__type": code, "Message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id),
                   ("x-amzn-ErrorType", code)]
    if request.get("method") == "HEAD":
        body = b""  # a HEAD reply has the status and headers only
    reason = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", headers + [("Content-Length", str(len(body)))])
    return [body]
