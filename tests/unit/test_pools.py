"""``pool_if``: the same ordered ``map`` on a pool's threads or on the calling thread."""

from __future__ import annotations

import threading

import pytest

from lambda_app.pools import pool_if


@pytest.mark.parametrize("threaded", [True, False])
def test_the_map_keeps_the_order_and_runs_where_it_was_asked(threaded: bool) -> None:
    caller = threading.get_ident()
    with pool_if(threaded, workers=2) as pool:
        results = list(pool.map(lambda n: (n * n, threading.get_ident()), range(20)))
    assert [square for square, _ in results] == [n * n for n in range(20)]
    threads = {thread for _, thread in results}
    assert (caller in threads) is not threaded
    assert len(threads) <= (2 if threaded else 1)
