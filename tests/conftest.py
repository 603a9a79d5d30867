"""Shared fixtures: one real moto server per test session, reset before each test; its in-memory twin."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from orders_tools.emulator import LocalAws, local_aws
from tests.fakes import MemoryAws

# Hypothesis budgets: every property test asks for ``examples(n)`` (tests/helpers.py), n examples under the
# default profile and ten times that under HYPOTHESIS_PROFILE=thorough (`make test-thorough`).
settings.register_profile("thorough", max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The files that take about ten seconds or more start first, longest first (--durations=0, session 28):
# with two workers taking files from one queue, the long ones then run beside many short ones instead of alone
# at the end. The Makefile passes --no-loadscope-reorder: by default xdist queues the files by their number of
# tests instead of in this order (docs/testing.md, "Time").
SLOW_FIRST = (
    "tests/functional/test_marks_attacks.py",
    "tests/integration/test_bench_lambda.py",
    "tests/integration/test_replays.py",
    "tests/integration/test_ops.py",
    "tests/unit/test_framing.py",
    "tests/functional/test_stateful.py",
    "tests/integration/test_bad_data.py",
    "tests/functional/test_owed_attacks.py",
    "tests/integration/test_queries_local.py",
    "tests/functional/test_report_partials.py",
    "tests/runtime/test_image_runtime.py",
    "tests/integration/test_demo.py",
    "tests/integration/test_queries_pipeline.py",
    "tests/unit/test_bench.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the order within a file, and of the other files, stays


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
