"""Header mapping: case, spaces, separators, order, unknown and duplicate columns."""

from __future__ import annotations

import pytest

from lambda_app.errors import DuplicateColumnError, MissingColumnsError
from lambda_app.schema import DATASET_SCHEMA, GLUE_COLUMN_TYPES, INPUT_COLUMNS, map_header, normalize_header
from tests.helpers import CANONICAL_HEADER


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("Sub Category", "sub_category"),
        ("Sub-Category", "sub_category"),
        ("sub_category", "sub_category"),
        ("  SUB  -  category ", "sub_category"),
        ("\ufeffOrder Id", "order_id"),
        ("cost price", "cost_price"),
        ("Discount Percent", "discount_percent"),
    ],
)
def test_normalize_header_ignores_case_spaces_and_separators(cell: str, expected: str) -> None:
    assert normalize_header(cell) == expected


def test_canonical_header_maps_every_column_in_order() -> None:
    assert map_header(CANONICAL_HEADER.split(",")) == {name: i for i, name in enumerate(INPUT_COLUMNS)}


def test_reordered_header_with_unknown_columns_maps_known_ones_only() -> None:
    header = [
        "Extra",
        "Quantity",
        "order-id",
        "Order Date",
        "ship mode",
        "region",
        "CATEGORY",
        "Sub_Category",
        "Cost Price",
        "list price",
        "discount percent",
        "Notes",
    ]
    mapping = map_header(header)
    assert mapping["quantity"] == 1
    assert mapping["order_id"] == 2
    assert "extra" not in mapping and "notes" not in mapping
    assert "segment" not in mapping  # optional and absent


def test_missing_required_column_is_named() -> None:
    header = CANONICAL_HEADER.replace(",Region", "").split(",")
    with pytest.raises(MissingColumnsError, match="region"):
        map_header(header)


def test_two_spellings_of_one_column_are_a_duplicate() -> None:
    with pytest.raises(DuplicateColumnError, match="sub_category"):
        map_header([*CANONICAL_HEADER.split(","), "Sub-Category"])


def test_glue_types_are_fixed_and_typed() -> None:
    assert GLUE_COLUMN_TYPES["order_date"] == "date"
    assert GLUE_COLUMN_TYPES["quantity"] == "bigint"
    assert GLUE_COLUMN_TYPES["profit"] == "double"
    assert GLUE_COLUMN_TYPES["postal_code"] == "string"  # keeps leading zeros
    assert {"source_key", "ingested_at"} <= set(DATASET_SCHEMA.names)
