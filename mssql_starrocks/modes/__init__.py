"""Load modes: one module per `load_mode` of the tables file (see base.LoadMode for what each owns)."""

from __future__ import annotations

from mssql_starrocks.modes.base import MERGE, OVERWRITE, SYNC, ExtractPlan, LoadMode, ModeError
from mssql_starrocks.modes.change_tracking import ChangeTrackingMode
from mssql_starrocks.modes.full import FullMode
from mssql_starrocks.modes.watermark import WatermarkMode

MODES: dict[str, LoadMode] = {mode.name: mode for mode in (FullMode(), WatermarkMode(), ChangeTrackingMode())}


def mode_named(name: str) -> LoadMode:
    return MODES[name]


__all__ = ["MERGE", "MODES", "OVERWRITE", "SYNC", "ExtractPlan", "LoadMode", "ModeError", "mode_named"]
