"""`python -m mssql_starrocks_devservers.sample --env-file .env.devservers [--spec demo]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dotenv import dotenv_values

from mssql_starrocks_devservers.sample import load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create and fill a sample database in the SQL Server stand-in")
    parser.add_argument("--env-file", type=Path, default=Path(".env.devservers"))
    parser.add_argument("--spec", default="demo", help="a spec name (demo) or a path to a YAML spec")
    parser.add_argument("--database", default=None, help="database name (default: the spec's, else MSSQL_DATABASE)")
    args = parser.parse_args(argv)
    settings = {k: v for k, v in dotenv_values(args.env_file).items() if v is not None}
    counts = load(settings, args.spec, args.database)
    for table, n in counts.items():
        print(f"{table}: {n} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
