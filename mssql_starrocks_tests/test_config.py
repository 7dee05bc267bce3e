"""The tables file is refused at load with one message naming file, table and field."""

from pathlib import Path

import pytest

from mssql_starrocks.lib.config import TablesFileError, load_plans, load_tables_file, plans

FIXTURE = Path(__file__).parent / "fixtures" / "tables.yaml"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "tables.yaml"
    path.write_text(text)
    return path


def test_fixture_loads_with_defaults_applied():
    loaded = plans(load_tables_file(FIXTURE))
    by_name = {p.spec.qualified: p for p in loaded}
    assert by_name["dbo.customers"].starrocks.model == "primary_key"
    assert by_name["dbo.customers"].schedule == "0 2 * * *"
    assert by_name["sales.orders"].schedule == "*/30 * * * *"
    assert by_name["dbo.Order Details"].schedule is None
    assert by_name["dbo.Order Details"].table == "order_details"
    assert by_name["sales.orders"].namespace == "demo_sales"
    # Owners replace the defaults' (an empty list clears them); tags are merged over them.
    assert by_name["dbo.customers"].owners == ("crm-lead@example.com", "team:crm")
    assert by_name["sales.orders"].owners == ("team:data-platform",)
    assert by_name["dbo.Order Details"].owners == ()
    assert by_name["dbo.customers"].tags == {"domain": "shop", "pii": "yes"}
    assert by_name["sales.orders"].tags == {"domain": "sales"}


@pytest.mark.parametrize("body,expected", [
    ("database: d\ntables:\n  - {schema: dbo, name: t, load_mode: sometimes}\n",
     "table dbo.t: load_mode: Input should be 'full'"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, schedule: '61 * * * *'}\n",
     "table dbo.t: schedule: '61 * * * *' is not a valid cron schedule"),
    ("database: d\ntables:\n  - {schema: dbo, name: t}\n  - {schema: DBO, name: T}\n",
     "table DBO.T is listed twice"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, key_columns: [idd], columns: [{name: id, type: int}]}\n",
     "table dbo.t: key_columns: unknown column 'idd' (the table has: id)"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, load_mode: incremental, key_columns: [id], watermark_column: rvv, "
     "columns: [{name: id, type: int}, {name: rv, type: timestamp}]}\n",
     "table dbo.t: watermark_column: unknown column 'rvv' (the table has: id, rv)"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, partition_column: idd, columns: [{name: id, type: int}]}\n",
     "table dbo.t: partition_column: unknown column 'idd' (the table has: id)"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, partition_colum: id}\n",
     "table dbo.t: partition_colum: Extra inputs are not permitted"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, starrocks: {model: aggregate}}\n",
     "table dbo.t: starrocks.model: Input should be 'duplicate' or 'primary_key'"),
    ("tables:\n  - {schema: dbo, name: t}\n", "database: Field required"),
    ("database: d\ntables: []\n", "tables: List should have at least 1 item"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, owners: [bob]}\n",
     "table dbo.t: owners: 'bob' is not an owner: use an email address or 'team:<name>'"),
    ("database: d\ndefaults: {owners: ['team:']}\ntables:\n  - {schema: dbo, name: t}\n",
     "defaults.owners: 'team:' is not an owner"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, tags: {'a b': x}}\n",
     "table dbo.t: tags: tag key 'a b' is not valid"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, tags: {pii: 'not ok'}}\n",
     "table dbo.t: tags: tag pii: value 'not ok' is not valid"),
    ("database: d\ndefaults: {tags: {layer: gold}}\ntables:\n  - {schema: dbo, name: t}\n",
     "defaults.tags: tag 'layer' is set by the project and cannot be configured"),
])
def test_bad_tables_file_is_refused_naming_file_table_and_field(tmp_path, body, expected):
    path = write(tmp_path, body)
    with pytest.raises(TablesFileError) as err:
        load_tables_file(path)
    message = str(err.value)
    assert str(path) in message
    assert expected in message


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(TablesFileError, match="discover"):
        load_tables_file(tmp_path / "nope.yaml")


def test_two_tables_landing_on_the_same_name_are_refused(tmp_path):
    path = write(tmp_path, "database: d\ntables:\n  - {schema: dbo, name: Order Details}\n"
                           "  - {schema: dbo, name: order_details}\n")
    with pytest.raises(TablesFileError) as err:
        load_plans(path)
    assert str(err.value).startswith(str(path))
    assert "both land as d_dbo.order_details" in str(err.value)


@pytest.mark.parametrize("entry,expected", [
    ("{schema: dbo, name: t, load_mode: incremental, key_columns: [id]}", "load_mode incremental needs watermark_column"),
    ("{schema: dbo, name: t, load_mode: change_tracking}", "load_mode change_tracking needs key_columns"),
    ("{schema: dbo, name: t, load_mode: incremental, key_columns: [id], watermark_column: rv, "
     "starrocks: {model: duplicate}}", "needs starrocks.model primary_key"),
    ("{schema: dbo, name: t, key_columns: [id], watermark_column: rv}", "watermark_column only applies to load_mode incremental"),
])
def test_load_modes_are_validated_before_any_data_moves(tmp_path, entry, expected):
    path = write(tmp_path, f"database: d\ntables:\n  - {entry}\n")
    with pytest.raises(TablesFileError) as err:
        load_plans(path)
    assert str(err.value).startswith(f"{path}: table dbo.t: ")
    assert expected in str(err.value)


def test_model_defaults_to_primary_key_when_the_table_has_keys(tmp_path):
    path = write(tmp_path, "database: d\ntables:\n  - {schema: dbo, name: a, key_columns: [id]}\n"
                           "  - {schema: dbo, name: b}\n")
    models = {p.spec.name: p.starrocks.model for p in load_plans(path)}
    assert models == {"a": "primary_key", "b": "duplicate"}
