"""`python -m mssql_starrocks_devservers.s3glue`: moto's S3 + Glue server behind the fault front."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from mssql_starrocks_devservers.s3glue.faults import FaultFront
from mssql_starrocks_devservers.s3glue.journal import JOURNAL_FILE, Journal

_UPDATE_LOCK = threading.Lock()


def check_glue_version_id() -> None:
    """UpdateTable with a VersionId other than the table's current one fails, as on AWS Glue."""
    from moto.core.exceptions import JsonRESTError
    from moto.glue.responses import GlueResponse

    original = GlueResponse.update_table

    def update_table(self):
        version = self.parameters.get("VersionId")
        with _UPDATE_LOCK:  # the check and the update are one step, as in Glue
            if version is not None:
                name = (self.parameters.get("TableInput") or {}).get("Name")
                table = self.glue_backend.get_table(self.parameters.get("DatabaseName"), name)
                if str(table._current_version) != str(version):
                    raise JsonRESTError("ConcurrentModificationException",
                                        "Update table failed due to concurrent modifications.")
            return original(self)

    GlueResponse.update_table = update_table


def main(argv: list[str] | None = None) -> int:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description="S3 + Glue stand-in: moto's server with a fault-injection front")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep a journal of S3 + Glue changes here and replay it at start (see journal.py)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    check_glue_version_id()
    app = DomainDispatcherApplication(create_backend_app)
    if args.data_dir is not None:
        app = Journal(app, args.data_dir / JOURNAL_FILE)
        replayed = app.replay()  # before the port opens: a client never sees the content half back
        print(f"S3 + Glue content restored: {replayed} changes replayed from {app.path}", flush=True)
        for failure in app.replay_failures:
            print(f"replay refused: {failure}", flush=True)
    print(f"S3 + Glue stand-in (moto) on {args.host}:{args.port}", flush=True)
    run_simple(args.host, args.port, FaultFront(app), threaded=True, request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
