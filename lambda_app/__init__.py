"""The Lambda's runtime: order CSVs on S3 to a Glue-registered Parquet dataset and daily reports."""

import os
import sys
import warnings

from lambda_app.settings import apply_allocator_defaults

__version__ = "0.1.0"

# Before anything imports pyarrow: Arrow reads its allocator settings on its first allocation (settings.py says why).
apply_allocator_defaults()

# A process that let pyarrow allocate before importing this package (``import pandas`` does) keeps Arrow's own
# pool: the core measured 20-40% slower on 1M rows, its runs varying by half a second (docs/benchmarks.md, session 24).
# Asking for the pool of an already imported pyarrow is harmless: when nothing allocated yet, it is created now,
# with the settings above.
if "pyarrow" in sys.modules and (wanted := os.environ.get("ARROW_DEFAULT_MEMORY_POOL")):
    _chosen = sys.modules["pyarrow"].default_memory_pool().backend_name
    if _chosen != wanted:
        warnings.warn(
            f"Arrow's memory pool is {_chosen}, not {wanted}: pyarrow allocated before lambda_app was imported"
            " (import lambda_app before pandas, or set ARROW_DEFAULT_MEMORY_POOL in the environment)",
            RuntimeWarning,
            stacklevel=2,
        )
