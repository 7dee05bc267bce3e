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
    up = sub.add_parser("up", help="start all stand-ins in the background (reuses running ones)")
    up.add_argument("--env-file", type=Path, default=Path(".env.devservers"),
                    help="write the connection settings here as .env lines (default: .env.devservers)")
    sub.add_parser("down", help="stop the stand-ins started from --state-dir")
    sub.add_parser("status", help="print each stand-in's ports and whether it is running")
    args = parser.parse_args(argv)

    if args.command == "up":
        values = runtime.up(args.state_dir, args.env_file)
        print(f"stand-ins up: SQL Server 127.0.0.1:{values['MSSQL_PORT']}, "
              f"StarRocks 127.0.0.1:{values['STARROCKS_QUERY_PORT']} (http {values['STARROCKS_HTTP_PORT']}), "
              f"S3 + Glue {values['AWS_ENDPOINT_URL']}; settings in {args.env_file}")
        return 0
    if args.command == "down":
        stopped = runtime.down(args.state_dir)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    state = runtime.load_state(args.state_dir)
    if state is None:
        print("no stand-ins were started from " + str(args.state_dir))
        return 1
    for name, pid in (state.get("pids") or {}).items():
        print(f"{name}: pid {pid}")
    for name, port in state["ports"].items():
        print(f"{name}: 127.0.0.1:{port} {'open' if runtime.port_open(port) else 'closed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
