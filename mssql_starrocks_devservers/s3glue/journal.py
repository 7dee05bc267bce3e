"""S3 + Glue content that survives a restart of the stand-in: a journal of changes, replayed.

moto keeps S3 and Glue in memory and has no persistence of its own. Its request recorder
(`MOTO_ENABLE_RECORDING`) appends every request, reads included, before moto handles it, and
cannot replay a multipart upload (the upload id is random and the recording does not keep the
one moto answered), so it is not used. Instead, `Journal` sits in front of moto and appends one
JSON line per *successful* changing request (PUT/POST/DELETE answered 2xx) after moto handled
it: method, raw path, query, headers, body, and for CreateMultipartUpload the upload id moto
answered. At start-up, before the port opens, `replay` feeds the lines to a fresh moto app in
process, mapping old upload ids to new ones, so the port only accepts connections once the
content is back.

Glue changes are journaled one at a time (their order matters: `UpdateTable` checks the
version); S3 writes go in parallel. A line cut short by a kill is ignored at replay.
Object timestamps (LastModified, Glue CreateTime) are those of the replay.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from contextlib import nullcontext
from pathlib import Path
from urllib.parse import quote, unquote

JOURNAL_FILE = "journal.jsonl"
CHANGING = {"PUT", "POST", "DELETE", "PATCH"}
GLUE_READS = ("Get", "List", "Search", "BatchGet", "Query")  # Glue reads are POSTs too
SKIPPED_HEADERS = {"HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING", "HTTP_CONNECTION", "HTTP_EXPECT"}
_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")


def _read_body(environ) -> bytes:
    if environ.get("wsgi.input_terminated"):  # chunked transfer encoding: read to its end
        return environ["wsgi.input"].read()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _map_upload_id(part: str, upload_ids: dict[str, str]) -> str:
    name, eq, value = part.partition("=")
    if name != "uploadId" or unquote(value) not in upload_ids:
        return part
    return f"uploadId={quote(upload_ids[unquote(value)], safe='')}"


class Journal:
    """WSGI middleware appending successful changes to `path`; `replay()` restores them."""

    def __init__(self, app, path: Path):
        self.app = app
        self.path = Path(path)
        self._write_lock = threading.Lock()
        self._glue_lock = threading.Lock()
        self._file = None
        self.replay_failures: list[str] = []  # changes that moto refused at replay (should be none)

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        glue = target.startswith("AWSGlue.")
        if method not in CHANGING or (glue and target[len("AWSGlue."):].startswith(GLUE_READS)):
            return self.app(environ, start_response)
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        # wsgi.input_terminated stays as the server set it: a chunked request keeps its
        # Transfer-Encoding header, for which werkzeug ignores CONTENT_LENGTH and reads the
        # stream to its end only when the input is marked terminated (else it reads nothing).
        status: list[str] = []

        def capture(status_line, headers, exc_info=None):
            status.append(status_line)
            return start_response(status_line, headers, exc_info)

        with self._glue_lock if glue else nullcontext():
            result = self.app(environ, capture)
            try:
                chunks = list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if status and status[-1][:1] == "2":
                self._append(environ, body, b"".join(chunks))
        return chunks

    def _append(self, environ, body: bytes, response: bytes) -> None:
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        entry = {
            "method": environ["REQUEST_METHOD"],
            "path": raw_path.split("?", 1)[0],
            "query": environ.get("QUERY_STRING", ""),
            "headers": {k: v for k, v in environ.items()
                        if (k.startswith("HTTP_") and k not in SKIPPED_HEADERS) or k == "CONTENT_TYPE"},
            "body": base64.b64encode(body).decode("ascii"),
        }
        if entry["method"] == "POST" and "uploads" in entry["query"].split("&"):
            match = _UPLOAD_ID.search(response)
            if match:
                entry["upload_id"] = match.group(1).decode()
        line = json.dumps(entry) + "\n"
        with self._write_lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()  # in the kernel's hands: survives a kill of this process

    def replay(self) -> int:
        """Apply the journal to the (fresh) app; returns how many changes were replayed."""
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        if not self.path.exists():
            return 0
        upload_ids: dict[str, str] = {}
        count = 0
        with open(self.path, encoding="utf-8") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    break  # the last line, cut short by a kill
                query = "&".join(_map_upload_id(part, upload_ids) for part in entry["query"].split("&"))
                headers = {k[5:].replace("_", "-"): v for k, v in entry["headers"].items() if k.startswith("HTTP_")}
                builder = EnvironBuilder(
                    path=unquote(entry["path"]), method=entry["method"], query_string=query,
                    headers=headers, content_type=entry["headers"].get("CONTENT_TYPE"),
                    data=base64.b64decode(entry["body"]),
                    environ_overrides={"RAW_URI": entry["path"], "REQUEST_URI": entry["path"]},
                )
                environ = builder.get_environ()
                app_iter, status, _ = run_wsgi_app(self.app, environ, buffered=True)
                response = b"".join(app_iter)
                if not status.startswith("2"):
                    self.replay_failures.append(f"{entry['method']} {entry['path']}?{query}: {status} "
                                                f"{response[:300].decode(errors='replace')}")
                if entry.get("upload_id"):
                    match = _UPLOAD_ID.search(response)
                    if match:
                        upload_ids[entry["upload_id"]] = match.group(1).decode()
                count += 1
        return count
