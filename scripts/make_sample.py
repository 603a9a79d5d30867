"""Regenerate the repository's ``sample_orders.csv``.

Usage (from anywhere)::

    .venv/bin/python scripts/make_sample.py [OUT]    # OUT defaults to sample_orders.csv at the root

The rows come from ``orders_tools.generate.sample_rows``: the generator with a
fixed seed, then a few documented, deterministic adjustments that guarantee
the cases the reports must handle (a 'Not Available' ship mode, zero-priced
lines, and a category whose top two ship modes tie on distinct orders). The
output is byte-for-byte reproducible; ``tests/unit/test_generate.py`` checks
that the committed file matches.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    """Write the sample to ``argv[0]`` (default: ``<repo>/sample_orders.csv``)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from orders_tools.generate import write_sample  # noqa: PLC0415 - importable only once ROOT is on sys.path

    out = Path(argv[0]) if argv else ROOT / "sample_orders.csv"
    rows = write_sample(out)
    print(f"wrote {rows} rows to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
