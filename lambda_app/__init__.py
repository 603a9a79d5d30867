"""Order analytics pipeline: order CSVs on S3 to a Glue-registered Parquet dataset and daily reports."""

import os

__version__ = "0.1.0"

# Arrow allocates through mimalloc, which by default hands freed pages back to the OS after 10 ms; the
# pipeline frees and reallocates tens of MiB per piece, so the kernel kept zeroing the same pages again
# (12% of all CPU time on 5M rows). Holding them for a second: 5.4 s -> 4.5 s, same peak memory
# (docs/benchmarks.md). Read when Arrow first allocates, so it must be set before pyarrow is used;
# an explicit setting in the environment wins.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "1000")
