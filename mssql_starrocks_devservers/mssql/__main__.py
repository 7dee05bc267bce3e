"""`python -m mssql_starrocks_devservers.mssql`: the SQL Server stand-in (TDS 7.4 on DuckDB)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from pysqlbridge.certificate import self_signed, server_context

from mssql_starrocks_devservers.mssql.catalog import Server
from mssql_starrocks_devservers.mssql.engine import install_macros
from mssql_starrocks_devservers.mssql.tds import TdsServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SQL Server stand-in: TDS 7.4 over TCP, backed by DuckDB")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--user", default="sa")
    parser.add_argument("--password-env", default="DEVSERVERS_MSSQL_PASSWORD",
                        help="environment variable holding the password (never on the command line)")
    parser.add_argument("--no-tls", action="store_true", help="answer encrypt=true clients with 'not supported'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    password = os.environ.get(args.password_env, "")

    engine = Server(args.data_dir)
    install_macros(engine)
    # A self-signed certificate lets drivers test the production URL shape
    # (encrypt=true;trustServerCertificate=true); certificate checking itself fails, as it should.
    tls = None if args.no_tls else server_context(self_signed())
    server = TdsServer((args.host, args.port), engine, args.user, password, tls)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"SQL Server stand-in (TDS 7.4, SQL Server 2022 16.0) on {args.host}:{args.port}", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    with engine.lock:
        engine.duck.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
