"""`python -m mssql_starrocks_devservers.starrocks`: the StarRocks stand-in (FE query + HTTP, BE HTTP)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from pathlib import Path

from mssql_starrocks_devservers.starrocks.engine import Engine
from mssql_starrocks_devservers.starrocks.http import BeHandler, FeHandler, StarRocksHttpServer
from mssql_starrocks_devservers.starrocks.mysql import VERSION_COMMENT, make_server
from mssql_starrocks_devservers.starrocks.privileges import Accounts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="StarRocks stand-in: MySQL protocol + HTTP Stream Load on DuckDB")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--query-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--be-http-port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password-env", default="DEVSERVERS_STARROCKS_PASSWORD",
                        help="environment variable holding the password (never on the command line)")
    parser.add_argument("--aws-endpoint-url", default=None,
                        help="the AWS (S3 + Glue) an external catalog reaches when its properties name no endpoint")
    args = parser.parse_args(argv)
    password = os.environ.get(args.password_env, "")

    engine = Engine(args.data_dir / "starrocks.duckdb")
    accounts = Accounts(args.user, password)  # the administrator; CREATE USER adds others
    common = dict(engine=engine, accounts=accounts, be_host=args.host, be_port=args.be_http_port,
                  error_dir=args.data_dir / "error_logs")
    fe = StarRocksHttpServer((args.host, args.http_port), FeHandler, **common)
    be = StarRocksHttpServer((args.host, args.be_http_port), BeHandler, **common)
    for server in (fe, be):
        threading.Thread(target=server.serve_forever, daemon=True).start()

    async def serve() -> None:
        server = make_server(engine, accounts, aws_endpoint_url=args.aws_endpoint_url)
        await server.start_server(host=args.host, port=args.query_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"{VERSION_COMMENT} stand-in: query {args.host}:{args.query_port}, http {args.http_port}, "
              f"be {args.be_http_port}", flush=True)
        await stop.wait()
        server.close()

    asyncio.run(serve())
    fe.shutdown()
    be.shutdown()
    engine.db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
