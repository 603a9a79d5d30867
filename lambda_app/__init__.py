"""Order analytics pipeline: order CSVs on S3 to a Glue-registered Parquet dataset and daily reports."""

__version__ = "0.1.0"
