"""Configuration from environment variables: defaults, normalisation, and loud errors."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

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


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("ROWS_PER_FILE", "0", "from 1 to 10000000"),
        ("CSV_BLOCK_BYTES", "1", "from 1024 to 1073741824"),
        ("CSV_BLOCK_BYTES", str(10**13), "from 1024 to 1073741824"),
        ("MAX_REJECT_RATIO", "2", "from 0 to 1"),
        ("MAX_OBJECT_BYTES", "-5", "from 1 to"),
        ("LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("REPORT_ENGINE", "spark", "local, athena"),
    ],
)
def test_configuration_nonsense_names_the_variable_and_what_it_allows(name: str, value: str, allowed: str) -> None:
    """Expected: a ConfigurationError whose message names the variable and its allowed range or values."""
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"OUTPUT_BUCKET": "out", name: value})
    assert name in str(refused.value) and allowed in str(refused.value)


def test_a_missing_output_bucket_fails_the_cold_start_with_its_name() -> None:
    """Expected: importing the handler (Lambda's INIT) without OUTPUT_BUCKET raises ConfigurationError
    naming it, instead of failing every event later."""
    env = {k: v for k, v in os.environ.items() if k != "OUTPUT_BUCKET"}
    code = "import lambda_app.handler"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr and "OUTPUT_BUCKET" in result.stderr


DEFAULT_POOL = "jemalloc" if platform.machine() in {"x86_64", "AMD64"} else "mimalloc"  # arm64 wheels: no jemalloc


@pytest.mark.skipif(DEFAULT_POOL == "mimalloc", reason="Arrow's own default is the package's choice here")
def test_importing_the_package_after_pandas_warns_that_arrow_kept_its_own_pool() -> None:
    """Expected: pandas made pyarrow allocate first, so Arrow kept mimalloc; the import says so and how to fix it.
    Importing the package first, as the handler and the tooling do, stays silent."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    late = subprocess.run(
        [sys.executable, "-c", "import pandas, lambda_app"], env=env, capture_output=True, text=True, check=True
    )
    assert "RuntimeWarning: Arrow's memory pool is mimalloc, not jemalloc" in late.stderr
    assert "import lambda_app before pandas" in late.stderr
    first = subprocess.run(
        [sys.executable, "-c", "import lambda_app, pandas"], env=env, capture_output=True, text=True, check=True
    )
    assert first.stderr == ""


@pytest.mark.parametrize(
    ("module", "configured", "expected"),
    [
        ("lambda_app", None, DEFAULT_POOL),
        ("lambda_app", "system", "system"),
        # The tooling's modules import pyarrow before lambda_app at the top: the package applies the default first.
        ("orders_tools.bench", None, DEFAULT_POOL),
        ("orders_tools.cli", None, DEFAULT_POOL),
    ],
)
def test_importing_the_package_picks_arrows_allocator_unless_the_environment_chose(
    module: str, configured: str | None, expected: str
) -> None:
    """jemalloc by default on x86-64 (settings.ALLOCATOR_DEFAULTS says why); an explicit setting wins."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if configured:
        env["ARROW_DEFAULT_MEMORY_POOL"] = configured
    code = f"import {module}, pyarrow; print(pyarrow.default_memory_pool().backend_name)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
