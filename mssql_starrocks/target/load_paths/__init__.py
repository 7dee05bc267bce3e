"""Load paths: one module per `starrocks.load_path` of the tables file (see base.LoadPath)."""

from __future__ import annotations

from mssql_starrocks.lib.config import tables_file_path
from mssql_starrocks.target.load_paths.base import LoadJob, LoadPath, LoadPathError
from mssql_starrocks.target.load_paths.catalog import CatalogPath
from mssql_starrocks.target.load_paths.stream_load import StreamLoadPath

LOAD_PATHS: dict[str, LoadPath] = {path.name: path for path in (StreamLoadPath(), CatalogPath())}


def load_path_named(name: str) -> LoadPath:
    return LOAD_PATHS[name]


def refuse_unusable(plans, *, iceberg_catalog_type: str, starrocks_catalog: str | None) -> None:
    """Refuse, in one message, tables whose load path cannot run with these settings (no I/O:
    definitions load, `plan` and `check` call it, and each load again)."""
    problems = []
    for path in LOAD_PATHS.values():
        users = [p for p in plans if p.load_path is path]
        why = path.refusal(iceberg_catalog_type=iceberg_catalog_type, starrocks_catalog=starrocks_catalog) \
            if users else None
        if why:
            where = users[0].tables_file or tables_file_path()
            problems.append(f"{where}: table(s) {', '.join(p.spec.qualified for p in users)} have "
                            f"starrocks.load_path {path.name}, but {why}")
    if problems:
        raise LoadPathError("\n".join(problems))


__all__ = ["LOAD_PATHS", "LoadJob", "LoadPath", "LoadPathError", "load_path_named", "refuse_unusable"]
