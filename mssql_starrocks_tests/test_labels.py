"""Stream Load labels: StarRocks takes at most 128 characters of letters, digits, '_' and '-'."""

import re

from mssql_starrocks.target import stream_load
from mssql_starrocks.target.starrocks import make_label


def test_a_label_prefix_leaves_room_for_partition_and_chunk():
    long_name = "orders_" + "x" * 200
    prefix = make_label("msr", "sales_dbo", long_name, "8712349876123498761", "a1b2c3d4e5f6", "deadbeef",
                        limit=stream_load.LABEL_PREFIX_LIMIT)
    label = f"{prefix}_p99999_c99999"
    assert len(label) <= 128 and re.fullmatch(r"[A-Za-z0-9_-]+", label)
    other = make_label("msr", "sales_dbo", long_name + "y", "8712349876123498761", "a1b2c3d4e5f6", "deadbeef",
                       limit=stream_load.LABEL_PREFIX_LIMIT)
    assert other != prefix  # cut names stay distinct (a digest of the whole)


def test_short_labels_are_kept_readable():
    assert make_label("msr", "d", "Order Details", "delta", "42") == "msr_d_Order_Details_delta_42"
