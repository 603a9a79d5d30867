"""The pipeline's configuration: the only module that reads environment variables.

Every variable is documented in the README's Configuration table; the same
names are set by ``terraform/modules/lambda``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lambda_app.errors import ConfigurationError

REPORT_ENGINES = ("local", "athena")


def _prefix(value: str) -> str:
    value = value.strip().strip("/")
    return f"{value}/" if value else ""


@dataclass(frozen=True)
class Settings:
    """Typed view of the environment. Build it with :meth:`from_env`."""

    output_bucket: str
    glue_database: str = "orders_analytics"
    glue_table: str = "orders"
    dataset_prefix: str = "dataset/orders/"
    reports_prefix: str = "analytics/"
    rejects_prefix: str = "rejects/"
    errors_prefix: str = "errors/"
    runs_prefix: str = "runs/"
    state_prefix: str = "state/"
    max_object_bytes: int = 8 * 1024**3
    max_reject_ratio: float = 0.25
    block_size_bytes: int = 16 * 1024**2
    rows_per_file: int = 500_000
    report_engine: str = "local"
    athena_workgroup: str = "primary"
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: ``os.environ``)."""
        env = os.environ if env is None else env
        bucket = env.get("OUTPUT_BUCKET", "").strip()
        if not bucket:
            raise ConfigurationError("OUTPUT_BUCKET must be set to the output bucket's name")
        defaults = cls(output_bucket=bucket)
        settings = cls(
            output_bucket=bucket,
            glue_database=env.get("GLUE_DATABASE", defaults.glue_database).strip(),
            glue_table=env.get("GLUE_TABLE", defaults.glue_table).strip(),
            dataset_prefix=_prefix(env.get("DATASET_PREFIX", defaults.dataset_prefix)),
            reports_prefix=_prefix(env.get("REPORTS_PREFIX", defaults.reports_prefix)),
            rejects_prefix=_prefix(env.get("REJECTS_PREFIX", defaults.rejects_prefix)),
            errors_prefix=_prefix(env.get("ERRORS_PREFIX", defaults.errors_prefix)),
            runs_prefix=_prefix(env.get("RUNS_PREFIX", defaults.runs_prefix)),
            state_prefix=_prefix(env.get("STATE_PREFIX", defaults.state_prefix)),
            max_object_bytes=_int(env, "MAX_OBJECT_BYTES", defaults.max_object_bytes),
            max_reject_ratio=_ratio(env, "MAX_REJECT_RATIO", defaults.max_reject_ratio),
            block_size_bytes=_int(env, "CSV_BLOCK_BYTES", defaults.block_size_bytes),
            rows_per_file=_int(env, "ROWS_PER_FILE", defaults.rows_per_file),
            report_engine=env.get("REPORT_ENGINE", defaults.report_engine).strip().lower(),
            athena_workgroup=env.get("ATHENA_WORKGROUP", defaults.athena_workgroup).strip(),
            log_level=env.get("LOG_LEVEL", defaults.log_level).strip().upper(),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ``ConfigurationError`` on values that cannot work."""
        if not self.glue_database or not self.glue_table:
            raise ConfigurationError("GLUE_DATABASE and GLUE_TABLE must not be empty")
        if self.report_engine not in REPORT_ENGINES:
            raise ConfigurationError(f"REPORT_ENGINE must be one of {REPORT_ENGINES}, got {self.report_engine!r}")
        prefixes = [
            self.dataset_prefix,
            self.reports_prefix,
            self.rejects_prefix,
            self.errors_prefix,
            self.runs_prefix,
            self.state_prefix,
        ]
        if "" in prefixes or len(set(prefixes)) != len(prefixes):
            raise ConfigurationError("the output prefixes must be non-empty and distinct")
        if self.block_size_bytes < 1024 or self.rows_per_file < 1:
            raise ConfigurationError("CSV_BLOCK_BYTES must be >= 1024 and ROWS_PER_FILE >= 1")

    @property
    def dataset_root(self) -> str:
        """``s3://`` URL of the Parquet dataset's root folder."""
        return f"s3://{self.output_bucket}/{self.dataset_prefix}"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def _ratio(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number between 0 and 1, got {raw!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{name} must be between 0 and 1, got {value}")
    return value
