"""Configuration from environment variables: defaults, normalisation, and loud errors."""

from __future__ import annotations

import pytest

from lambda_app.errors import ConfigurationError
from lambda_app.settings import Settings


def test_defaults_need_only_the_output_bucket() -> None:
    settings = Settings.from_env({"OUTPUT_BUCKET": "out"})
    assert settings.dataset_root == "s3://out/dataset/orders/"
    assert (settings.glue_database, settings.glue_table, settings.report_engine) == (
        "orders_analytics",
        "orders",
        "local",
    )


def test_prefixes_are_normalised_to_one_trailing_slash() -> None:
    settings = Settings.from_env({"OUTPUT_BUCKET": "out", "REPORTS_PREFIX": "/daily/reports", "ERRORS_PREFIX": "bad//"})
    assert (settings.reports_prefix, settings.errors_prefix) == ("daily/reports/", "bad/")


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OUTPUT_BUCKET": " "},
        {"OUTPUT_BUCKET": "out", "MAX_REJECT_RATIO": "1.5"},
        {"OUTPUT_BUCKET": "out", "MAX_OBJECT_BYTES": "big"},
        {"OUTPUT_BUCKET": "out", "REPORT_ENGINE": "spark"},
        {"OUTPUT_BUCKET": "out", "REPORTS_PREFIX": "dataset/orders"},
    ],
)
def test_invalid_configuration_is_a_clear_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_env(env)
