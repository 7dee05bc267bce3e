"""`python -m mssql_starrocks_devservers up|down|status`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mssql_starrocks_devservers import runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mssql_starrocks_devservers",
        description="Start or stop the local SQL Server, StarRocks and S3 + Glue stand-ins on 127.0.0.1.",
    )
    parser.add_argument("--state-dir", type=Path, default=runtime.DEFAULT_STATE_DIR,
                        help="where pids, ports, logs and data live (default: .devservers)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stand-ins that are not running, in the background, on "
                                           "the ports recorded in --state-dir (new ones at a first start)")
    up.add_argument("--env-file", type=Path, default=Path(".env.devservers"),
                    help="write the connection settings here as .env lines (default: .env.devservers)")
    sub.add_parser("down", help="stop the stand-ins started from --state-dir and forget their ports")
    sub.add_parser("status", help="print each stand-in as up or down with its ports "
                                             "(exit 0: all up, 3: some down, 1: never started)")
    args = parser.parse_args(argv)

    if args.command == "up":
        try:
            values = runtime.up(args.state_dir, args.env_file, report=print)
        except runtime.PortTaken as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"stand-ins up: SQL Server 127.0.0.1:{values['MSSQL_PORT']}, "
              f"StarRocks 127.0.0.1:{values['STARROCKS_QUERY_PORT']} (http {values['STARROCKS_HTTP_PORT']}), "
              f"S3 + Glue {values['AWS_ENDPOINT_URL']}; settings in {args.env_file}")
        return 0
    if args.command == "down":
        stopped = runtime.down(args.state_dir)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    rows = runtime.status(args.state_dir)
    for line in runtime.status_lines(args.state_dir):
        print(line)
    if rows is None:
        return 1
    return 0 if all(row["up"] for row in rows) else 3

if __name__ == "__main__":
    sys.exit(main())
