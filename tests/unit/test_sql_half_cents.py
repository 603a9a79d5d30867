"""half_cent_sums(): which rounded sums of doubles depend on the order of the additions."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from orders_tools.sql import half_cent_sums
from tests.helpers import examples


def trino_cents(value: float) -> float:
    scaled = abs(value) * 100
    whole = math.floor(scaled) + (scaled - math.floor(scaled) >= 0.5)
    return math.copysign(whole / 100, value)


def test_exact_partial_sums_never_straddle() -> None:
    # 10 + 0.125 is exact in any order, even though 10.125 is a half cent.
    assert half_cent_sums({"West": [10.0, 0.125], "East": [0.5, 0.25, 0.125]}) == []


def test_a_sum_near_a_half_cent_is_named_with_its_exact_value() -> None:
    [found] = half_cent_sums({"West": [0.3, 0.045, 0.2], "East": [1.0, 2.1]})
    assert found.group == "West"
    assert found.terms == 3
    assert found.exact_sum == Fraction(0.3) + Fraction(0.045) + Fraction(0.2)
    assert found.half_cent == Fraction(109, 200)
    assert abs(found.exact_sum - found.half_cent) <= found.error_bound
    assert "0.545" in found.describe()


def test_sums_far_from_a_half_cent_are_not_named() -> None:
    assert half_cent_sums({"North": [0.1, 0.2, 0.33], "South": [], "Nan": [float("nan")]}) == []


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.integers(-(10**6), 10**6).map(lambda mills: mills / 1000), min_size=2, max_size=6))
def test_a_group_not_named_rounds_to_the_same_cent_in_every_order(values: list[float]) -> None:
    """The bound is a proof: when a group is not named, every order of additions gives the same cent."""
    if half_cent_sums({"g": values}):
        return
    cents = set()
    for order in itertools.permutations(values):
        total = 0.0
        for value in order:
            total += value
        cents.add(f"{trino_cents(total) + 0.0:.2f}")
    assert len(cents) == 1, (values, cents)
