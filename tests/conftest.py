"""Shared fixtures: one real moto server per test session, reset before each test; its in-memory twin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orders_tools.emulator import LocalAws, local_aws
from tests.fakes import MemoryAws


@pytest.fixture(scope="session")
def emulator() -> Iterator[LocalAws]:
    """The session's moto server, reached over HTTP like AWS; the environment points at it."""
    with local_aws() as running:
        yield running


@pytest.fixture
def aws(emulator: LocalAws) -> LocalAws:
    """The emulator, emptied, with the product's buckets and Glue database."""
    emulator.reset()
    return emulator


@pytest.fixture
def memory_aws() -> MemoryAws:
    """The in-memory twin of the emulator: the same interface, no HTTP."""
    return MemoryAws()


@pytest.fixture(params=["memory", "moto"])
def world(request: pytest.FixtureRequest) -> LocalAws | MemoryAws:
    """Each scenario twice: against the in-memory storage and against the real AWS adapter on moto."""
    if request.param == "memory":
        return MemoryAws()
    emulator: LocalAws = request.getfixturevalue("aws")
    return emulator
