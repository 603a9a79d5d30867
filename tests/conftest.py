"""Shared fixtures: a real moto server per test, reached over HTTP like AWS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambda_app.emulator import LocalAws, local_aws


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    """A fresh moto server with the product's buckets and Glue database; env points at it."""
    with local_aws() as emulator:
        yield emulator
