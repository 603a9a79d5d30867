"""The pipeline's configuration: the only module of the runtime that reads (or writes) environment variables.

Built once per process, at the Lambda's INIT (``lambda_app.handler``), so a bad
configuration fails the cold start with a message naming the variable and what
it allows, instead of failing every event. Every variable is documented in the
README's Configuration table; the same names are set by ``terraform/modules/lambda``.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lambda_app.errors import ConfigurationError

ReportEngine = Literal["local", "athena"]
REPORT_ENGINES: tuple[ReportEngine, ...] = ("local", "athena")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Arrow's allocator. Its default, mimalloc, kept the kernel zeroing fresh pages (15% of all CPU time under
# perf): the pipeline frees and reallocates tens of MiB per piece on several threads. Holding freed pages for
# a second helped (5.4 s -> 4.5 s at 5M rows). On x86-64, jemalloc (in the pyarrow wheels there) does the same
# job in 16% / 7% / 2% fewer CPU seconds at 1M / 5M / 10M rows with a lower peak (alternating runs,
# docs/benchmarks.md). The arm64 wheels, which the Lambda image installs, ship no jemalloc (Arrow disabled it
# on ARM: apache/arrow#44342), so there mimalloc stays, with the purge delay. Both are read when Arrow first
# allocates, so ``lambda_app/__init__.py`` applies them before anything imports pyarrow; an explicit setting
# in the environment wins.
ALLOCATOR_DEFAULTS: dict[str, str] = {
    **({"ARROW_DEFAULT_MEMORY_POOL": "jemalloc"} if platform.machine() in {"x86_64", "AMD64"} else {}),
    "MIMALLOC_PURGE_DELAY": "1000",
}

# Where the SQL library sits in a checkout (or an editable install): beside the package.
_CHECKOUT_QUERIES = Path(__file__).resolve().parent.parent / "queries"

# Inclusive ranges of the numeric settings: what can work, not what is sensible.
_RANGES: dict[str, tuple[int, int]] = {
    "MAX_OBJECT_BYTES": (1, 5 * 1024**4),  # S3's largest object
    "CSV_BLOCK_BYTES": (1024, 1024**3),  # each piece is held in memory a few times
    "ROWS_PER_FILE": (1, 10_000_000),  # each Parquet object is built in memory
    "MAX_REJECTS_BYTES": (1024, 10 * 1024**3),  # Lambda's ephemeral storage is 512 MiB to 10 GiB
}


def apply_allocator_defaults(environ: MutableMapping[str, str] | None = None) -> None:
    """Set :data:`ALLOCATOR_DEFAULTS` unless the environment already has them.

    A process that let pyarrow allocate first (``import pandas`` does) keeps Arrow's own pool: the core
    measured 20-40% slower on 1M rows, its runs varying by half a second (docs/benchmarks.md, session 24).
    So when pyarrow is already imported, this asks for its pool (harmless: when nothing allocated yet, the
    pool is created now, with these settings) and warns when it is not the one configured.
    """
    target = os.environ if environ is None else environ
    for name, value in ALLOCATOR_DEFAULTS.items():
        target.setdefault(name, value)
    wanted = target.get("ARROW_DEFAULT_MEMORY_POOL")
    if environ is None and wanted and "pyarrow" in sys.modules:
        chosen = sys.modules["pyarrow"].default_memory_pool().backend_name
        if chosen != wanted:
            warnings.warn(
                f"Arrow's memory pool is {chosen}, not {wanted}: pyarrow allocated before lambda_app was imported"
                " (import lambda_app before pandas, or set ARROW_DEFAULT_MEMORY_POOL in the environment)",
                RuntimeWarning,
                stacklevel=3,
            )


def _prefix(value: str) -> str:
    value = value.strip().strip("/")
    return f"{value}/" if value else ""


@dataclass(frozen=True)
class Settings:
    """Typed view of the environment. Build it with :meth:`from_env`; class attributes are the defaults."""

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
    max_rejects_bytes: int = 256 * 1024**2  # spooled to /tmp (512 MiB by default in Lambda) before the upload
    report_engine: ReportEngine = "local"
    athena_workgroup: str = "primary"
    log_level: str = "INFO"
    service_name: str = "orders-analytics"
    metrics_namespace: str = "OrdersAnalytics"
    queries_dir: Path = _CHECKOUT_QUERIES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: ``os.environ``); ``ConfigurationError`` names what is wrong."""
        env = os.environ if env is None else env

        def text(name: str, default: str) -> str:
            return env.get(name, default).strip() or default

        bucket = env.get("OUTPUT_BUCKET", "").strip()
        if not bucket:
            raise ConfigurationError("OUTPUT_BUCKET must be set to the output bucket's name")
        engine = text("REPORT_ENGINE", cls.report_engine).lower()
        if engine not in REPORT_ENGINES:
            raise ConfigurationError(f"REPORT_ENGINE must be one of {', '.join(REPORT_ENGINES)}, got {engine!r}")
        level = text("LOG_LEVEL", cls.log_level).upper()
        if level not in LOG_LEVELS:
            raise ConfigurationError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
        settings = cls(
            output_bucket=bucket,
            glue_database=env.get("GLUE_DATABASE", cls.glue_database).strip(),
            glue_table=env.get("GLUE_TABLE", cls.glue_table).strip(),
            dataset_prefix=_prefix(env.get("DATASET_PREFIX", cls.dataset_prefix)),
            reports_prefix=_prefix(env.get("REPORTS_PREFIX", cls.reports_prefix)),
            rejects_prefix=_prefix(env.get("REJECTS_PREFIX", cls.rejects_prefix)),
            errors_prefix=_prefix(env.get("ERRORS_PREFIX", cls.errors_prefix)),
            runs_prefix=_prefix(env.get("RUNS_PREFIX", cls.runs_prefix)),
            state_prefix=_prefix(env.get("STATE_PREFIX", cls.state_prefix)),
            max_object_bytes=_int(env, "MAX_OBJECT_BYTES", cls.max_object_bytes),
            max_reject_ratio=_ratio(env, "MAX_REJECT_RATIO", cls.max_reject_ratio),
            block_size_bytes=_int(env, "CSV_BLOCK_BYTES", cls.block_size_bytes),
            rows_per_file=_int(env, "ROWS_PER_FILE", cls.rows_per_file),
            max_rejects_bytes=_int(env, "MAX_REJECTS_BYTES", cls.max_rejects_bytes),
            report_engine=engine,
            athena_workgroup=text("ATHENA_WORKGROUP", cls.athena_workgroup),
            log_level=level,
            service_name=text("POWERTOOLS_SERVICE_NAME", cls.service_name),
            metrics_namespace=text("POWERTOOLS_METRICS_NAMESPACE", cls.metrics_namespace),
            queries_dir=_queries_dir(env),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ``ConfigurationError`` on values that cannot work together."""
        if not self.glue_database or not self.glue_table:
            raise ConfigurationError("GLUE_DATABASE and GLUE_TABLE must not be empty")
        prefixes = [
            self.dataset_prefix,
            self.reports_prefix,
            self.rejects_prefix,
            self.errors_prefix,
            self.runs_prefix,
            self.state_prefix,
        ]
        if "" in prefixes or len(set(prefixes)) != len(prefixes):
            raise ConfigurationError(
                "the output prefixes (DATASET_PREFIX, REPORTS_PREFIX, ...) must be non-empty and distinct"
            )
        if any(a != b and a.startswith(b) for a in prefixes for b in prefixes):
            raise ConfigurationError(
                "no output prefix may lie inside another (e.g. REPORTS_PREFIX inside DATASET_PREFIX)"
            )
        if self.report_engine == "athena" and not self.queries_dir.is_dir():
            raise ConfigurationError(
                f"REPORT_ENGINE=athena reads the report SQL from {self.queries_dir}, which does not exist;"
                " set ORDERS_QUERIES_DIR"
            )

    @property
    def dataset_root(self) -> str:
        """``s3://`` URL of the Parquet dataset's root folder."""
        return f"s3://{self.output_bucket}/{self.dataset_prefix}"


def _queries_dir(env: Mapping[str, str]) -> Path:
    """``$ORDERS_QUERIES_DIR``; else ``$LAMBDA_TASK_ROOT/queries`` (the image copies it there); else the checkout's."""
    explicit = env.get("ORDERS_QUERIES_DIR", "").strip()
    if explicit:
        return Path(explicit)
    task_root = env.get("LAMBDA_TASK_ROOT", "").strip()
    if task_root and (Path(task_root) / "queries").is_dir():
        return Path(task_root) / "queries"
    return _CHECKOUT_QUERIES


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    low, high = _RANGES[name]
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a whole number from {low} to {high}, got {raw!r}") from exc
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be from {low} to {high}, got {value}")
    return value


def _ratio(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number from 0 to 1, got {raw!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{name} must be from 0 to 1, got {value}")
    return value
