"""The Lambda's runtime: order CSVs on S3 to a Glue-registered Parquet dataset and daily reports."""

from lambda_app.settings import apply_allocator_defaults

__version__ = "0.1.0"

# Before anything imports pyarrow: Arrow reads its allocator settings on its first allocation (settings.py says why).
apply_allocator_defaults()  # and warns when pyarrow already allocated with another pool
