"""A thread pool only where it pays: for small inputs, the same ``map`` on the calling thread."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


class Mapper(Protocol):
    """What the callers need of a pool: an ordered ``map``."""

    def map(self, fn: Callable[..., R], /, *iterables: Iterable[Any]) -> Iterator[R]: ...


class _Inline:
    def map(self, fn: Callable[..., R], /, *iterables: Iterable[Any]) -> Iterator[R]:
        return map(fn, *iterables)


@contextmanager
def pool_if(threaded: bool, workers: int) -> Iterator[Mapper]:
    """A pool of ``workers`` threads when ``threaded``, else ``map`` on the calling thread.

    The callers decide by the input's size: on a small one, starting threads and handing work to them costs
    more than they save.
    """
    if not threaded:
        yield _Inline()
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield pool
