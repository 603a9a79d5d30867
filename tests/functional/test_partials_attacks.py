"""Red-team probes of the report partials and the day's checkpoint (lambda_app/report_partials.py, daily_reports).

Each test loads files through the handler on the in-memory storage and checks that the reports written
by the refresh are byte for byte ``daily_reports.recompute_reports`` over the day's committed objects
(and, where the rows are simple, the plain-Python reference's rows); some also check the unrounded
region totals bit for bit, and that no partial leaks. Tests marked ``DEFECT`` failed on the code they were
written against (the merge of report partials, 2026-12-01) and pass since their fixes: trimmed labels are
encoded again when two trim alike (cleaning._trim), a commit whose answer was lost is recognised as landed
(unit_of_work._commit/_committed), and a partial whose parts do not fit is rebuilt (ReportPartial._check).
The others probe risky cases and passed from the start.
"""

from __future__ import annotations

import contextlib
import json
import random
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lambda_app import daily_reports, parquet, paths, report_partials, reports
from lambda_app.parquet import iter_row_groups
from lambda_app.ports import PreconditionFailedError
from lambda_app.report_partials import ReportPartial
from lambda_app.reports import INPUT_COLUMNS, REPORT_NAMES, ReportBuilder, to_csv_bytes
from tests import reference
from tests.fakes import FaultyStorage, Killed, LandsThenFails, MemoryAws, kill_at_commit
from tests.helpers import EVENT_TIME, World, csv_bytes, line, report_rows

DAY = EVENT_TIME.date()


@pytest.fixture
def aws() -> MemoryAws:
    return MemoryAws()


# ----------------------------------------------------------------------------------------------- helpers


def row(
    order: str,
    region: str = "West",
    category: str = "Furniture",
    sub: str = "Chairs",
    ship: str = "Standard Class",
    cost: str = "1",
    price: str = "2.5",
    quantity: str = "1",
    discount: str = "0",
    order_date: str = "2023-09-05",
) -> tuple[str, reference.RefLine]:
    text = line(order, order_date, ship, region, category, sub, cost, price, quantity, discount)
    ref = reference.RefLine(
        order_id=order.strip(),
        region=region.strip(),
        category=category.strip().strip('"'),
        sub_category=sub.strip(),
        ship_mode=reference.ship_mode_value(ship),
        profit=reference.line_profit(cost, price, quantity, discount),
    )
    return text, ref


def file_of(*rows: tuple[str, reference.RefLine]) -> tuple[bytes, list[reference.RefLine]]:
    return csv_bytes(*(r[0] for r in rows)), [r[1] for r in rows]


def deliver(
    aws: World, key: str, body: bytes, seconds: int = 0, bucket: str | None = None, when: Any = None
) -> dict[str, Any]:
    if bucket is not None:
        aws.create_bucket(bucket)
    head = aws.upload(key, body, bucket=bucket)
    when = when or EVENT_TIME + timedelta(seconds=seconds)
    return aws.deliver(aws.object_created_event(key, head, when, bucket=bucket))


def committed(aws: World, day: date = DAY) -> list[str]:
    settings = aws.settings()
    keys = aws.storage.list_keys(settings.output_bucket, paths.partition_prefix(settings, day))
    return daily_reports.committed_objects(aws.storage, settings, day, keys)


def assert_recomputation(aws: World, day: date = DAY) -> None:
    """The written CSVs are byte for byte the recomputation from the day's committed objects."""
    recomputed = daily_reports.recompute_reports(aws.storage, aws.settings(), committed(aws, day))
    for name in REPORT_NAMES:
        written = aws.read_output(f"analytics/{day:%Y/%m/%d}/{name}.csv")
        assert written == to_csv_bytes(recomputed[name]), (name, written, to_csv_bytes(recomputed[name]))


def assert_reference(aws: World, loaded: list[reference.RefLine], day: date = DAY) -> None:
    expected = reference.report_rows(loaded)
    for name in REPORT_NAMES:
        assert report_rows(aws, name, f"{day:%Y/%m/%d}")[1:] == expected[name], name


def recomputed_profit(aws: World, day: date = DAY) -> dict[str, float]:
    """The unrounded region totals of a recomputation (the floats ``recompute_reports`` rounds)."""
    settings = aws.settings()
    builder = ReportBuilder()
    for key in sorted(committed(aws, day)):
        found = aws.storage.get(settings.output_bucket, key)
        assert found is not None
        for table in iter_row_groups(found[0], list(INPUT_COLUMNS)):
            builder.add(table)
    return dict(builder._profit)


def partial_profit(partial: ReportPartial) -> dict[str, float]:
    """The unrounded region totals ``ReportPartial.build`` rounds (the same additions, in the same order)."""
    profit: dict[str, float] = {}
    for _, _, region, total in sorted(partial.terms, key=lambda term: (term[0], term[1])):
        profit[region] = profit.get(region, 0.0) + total
    return profit


def checkpoint(aws: World, day: date = DAY) -> ReportPartial:
    return ReportPartial.from_bytes(aws.read_output(paths.report_checkpoint_key(aws.settings(), day)))


def partial_keys(aws: World, day: date = DAY) -> list[str]:
    return aws.output_keys(paths.partials_folder(aws.settings(), day))


def live_attempts(aws: World, *keys: str, bucket: str | None = None) -> set[str]:
    names = set()
    for key in keys:
        sid = paths.source_id(bucket or aws.input_bucket, key)
        state = json.loads(aws.read_output(f"state/sources/{sid}.json"))
        if state.get("attempt") and state.get("days"):
            names.add(f"{sid}_{state['attempt']}")
    return names


def partial_names(aws: World, day: date = DAY) -> set[str]:
    return {k.rsplit("/", 1)[1].removesuffix(".parquet") for k in partial_keys(aws, day)}


# ------------------------------------------------------------------------------------- float profit terms


def test_defect_region_labels_that_trim_alike_split_the_profit_terms(aws: MemoryAws) -> None:
    """DEFECT. " West" and "West" are one region after trimming, but the CSV reader's dictionary keeps two labels.

    The sink sums profit per dictionary *index* (``region_sums`` on the in-memory table, whose trimmed
    dictionary holds "West" twice), so the partial has two "West" terms for one row group; the
    recomputation reads the object back (plain strings) and sums the region's rows in one sequential
    pass. Different additions: with magnitudes that absorb, the cents differ.
    """
    body, _ = file_of(
        row("A-1", region="West", cost="0", price="10000000000000000", order_date="2023-01-01"),
        row("A-2", region=" West", cost="0", price="0.5", order_date="2023-01-02"),
        row("A-3", region="West", cost="10000000000000000", price="0", order_date="2023-01-03"),
        row("A-4", region=" West", cost="0", price="0.5", order_date="2023-01-04"),
    )
    assert deliver(aws, "a.csv", body)["files"][0]["status"] == "loaded"
    assert partial_profit(checkpoint(aws)) == recomputed_profit(
        aws
    )  # before the fix: {'West': 1.0} (partial) vs {'West': 0.5} (recomputation)
    assert_recomputation(aws)


def test_defect_region_labels_that_trim_alike_change_a_report_cent_with_everyday_prices(aws: MemoryAws) -> None:
    """DEFECT. Five ordinary lines (a few dollars, 25 %/50 % discounts), one spelled "West", four " West".

    Exact total 18.565 -> 18.57 (reference and recomputation); the partial's two "West" terms add to
    18.564999... -> 18.56 in the written report.
    """
    body, loaded = file_of(
        row("W-1", region=" West", cost="1", price="4.05", discount="0", quantity="5", order_date="2023-01-01"),
        row("W-2", region=" West", cost="3.1", price="4.05", discount="25", quantity="2", order_date="2023-01-02"),
        row("W-3", region="West", cost="2", price="0.07", discount="25", quantity="2", order_date="2023-01-03"),
        row("W-4", region=" West", cost="1", price="10.01", discount="0", quantity="1", order_date="2023-01-04"),
        row("W-5", region=" West", cost="2", price="3.33", discount="50", quantity="5", order_date="2023-01-05"),
    )
    deliver(aws, "a.csv", body)
    assert report_rows(aws, "most_profitable_region")[1:] == [["West", "18.57"]]  # before the fix: 18.56
    assert_recomputation(aws)
    assert_reference(aws, loaded)


def test_defect_region_labels_that_trim_alike_change_the_float_of_everyday_cents(aws: MemoryAws) -> None:
    """DEFECT (bit level). The same split with ordinary prices: the totals are not the same doubles.

    The design claims "the totals are the same floats, not merely close ones"; here they differ in the
    last bits (the CSV happens to round alike, so only the unrounded totals show it).
    """
    specs = []
    rng = random.Random(7)
    for i in range(200):
        region = ["West", " West", "West ", "East"][i % 4]
        price, cost = f"{rng.uniform(1, 900):.2f}", f"{rng.uniform(1, 900):.2f}"
        specs.append(row(f"O-{i}", region=region, cost=cost, price=price, quantity=str(rng.randint(1, 9))))
    body, _ = file_of(*specs)
    deliver(aws, "a.csv", body)
    assert partial_profit(checkpoint(aws)) == recomputed_profit(aws)


def test_many_row_groups_objects_and_blocks_sum_to_the_same_doubles(aws: MemoryAws, monkeypatch: Any) -> None:
    """PROBE. Several objects per attempt, several row groups per object, blocks of 1 KiB; regions over all."""
    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 3)
    aws.env = {**aws.env, "ROWS_PER_FILE": "7", "CSV_BLOCK_BYTES": "1024"}
    prices = ["0.1", "0.2", "0.3", "0.7", "1.1", "2.2", "3.3", "0.01", "10.07", "0.13", "1e6", "123456.789"]
    loaded: list[reference.RefLine] = []
    for f in range(3):
        specs = [
            row(
                f"CA-{f}-{i % 9}",
                region=["West", "East", "South", "Central"][(i * 7 + f) % 4],
                sub=["Chairs", "Tables", "Phones"][i % 3],
                ship=["First Class", "Same Day", "Not Available"][i % 3],
                cost="0",
                price=prices[(i + f) % len(prices)],
                quantity=str(1 + i % 3),
                order_date=f"2023-0{1 + i % 9}-1{i % 9}",
            )
            for i in range(25)
        ]
        body, refs = file_of(*specs)
        deliver(aws, f"f{f}.csv", body, f)
        loaded += refs
        assert partial_profit(checkpoint(aws)) == recomputed_profit(aws)
        assert_recomputation(aws)
    assert_reference(aws, loaded)
    assert len(committed(aws)) >= 9  # 25 rows / 7 per object, three files


# ------------------------------------------------------------------------------------ order ids as keys


def test_packed_and_text_ids_mix_across_files_and_attempts(aws: MemoryAws) -> None:
    """PROBE. Packed ids, ids with 13 trailing digits (text), leading zeros, all-digit ids, across files."""
    a = file_of(
        row("CA-2023-1"),
        row("007"),
        row("7"),
        row("A-007", sub="Tables"),
        row("A-7", sub="Tables"),
        row("X", ship="First Class"),
    )
    b = file_of(  # a 13-digit tail: this whole file's ids stay text
        row("CA-2023-1"),
        row("007"),
        row("0000000000007"),
        row("A-7", sub="Tables"),
        row("X", ship="First Class"),
    )
    c = file_of(row("7"), row("A-007", sub="Tables"), row("CA-2023-0001"))  # packed again
    deliver(aws, "a.csv", a[0], 0)
    assert checkpoint(aws).prefixes is not None
    deliver(aws, "b.csv", b[0], 1)
    assert checkpoint(aws).prefixes is None  # merged as text from here on
    assert_recomputation(aws)
    deliver(aws, "c.csv", c[0], 2)
    assert_recomputation(aws)
    assert_reference(aws, a[1] + b[1] + c[1])
    a2 = file_of(row("CA-2023-1"), row("Z-9"))  # a.csv again: a text checkpoint no longer usable
    deliver(aws, "a.csv", a2[0], 3)
    assert_recomputation(aws)
    assert_reference(aws, a2[1] + b[1] + c[1])


def test_more_prefixes_than_a_key_holds_falls_back_to_text(aws: MemoryAws, monkeypatch: Any) -> None:
    """PROBE. ``_MAX_PREFIXES`` made tiny: a file passes it mid-way (blocks of 1 KiB), and merged tables pass it."""
    monkeypatch.setattr(reports, "_MAX_PREFIXES", 3)
    monkeypatch.setattr(report_partials, "_MAX_PREFIXES", 3)
    aws.env = {**aws.env, "CSV_BLOCK_BYTES": "1024"}
    a = file_of(row("P-1"), row("Q-2"))  # two prefixes
    b = file_of(row("R-1"), row("S-2"), row("P-1"))  # two more: the merge has four
    c = file_of(*[row(f"{chr(65 + i % 26)}{i}x-{i}", sub=["Chairs", "Tables"][i % 2]) for i in range(30)], row("P-1"))
    deliver(aws, "a.csv", a[0], 0)
    deliver(aws, "b.csv", b[0], 1)
    assert checkpoint(aws).prefixes is None
    assert_recomputation(aws)
    deliver(aws, "c.csv", c[0], 2)
    assert_recomputation(aws)
    assert_reference(aws, a[1] + b[1] + c[1])


def test_prefix_tables_that_differ_between_partials_remap(aws: MemoryAws) -> None:
    """PROBE. The same ids under prefix tables built in different orders; a file with new prefixes only."""
    a = file_of(row("US-1"), row("CA-1"), row("CA-2", sub="Tables"))
    b = file_of(row("CA-1"), row("MX-1"), row("US-1"), row("CA-2", sub="Tables"))
    c = file_of(row("ZZ-5"), row("YY-5"), row("US-1", ship="First Class"))
    for i, f in enumerate((a, b, c)):
        deliver(aws, f"{i}.csv", f[0], i)
        assert_recomputation(aws)
    assert checkpoint(aws).prefixes is not None
    assert_reference(aws, a[1] + b[1] + c[1])


# ---------------------------------------------------------------------------------------- file shapes


def test_header_only_re_upload_removes_the_file_from_the_reports(aws: MemoryAws) -> None:
    """PROBE. a.csv loaded, then replaced by a header-only version: its partial goes, the checkpoint is rebuilt."""
    a = file_of(row("A-1"), row("A-2", region="East"))
    b = file_of(row("B-1", region="South"))
    deliver(aws, "a.csv", a[0], 0)
    deliver(aws, "b.csv", b[0], 1)
    deliver(aws, "a.csv", csv_bytes(), 2)
    assert_recomputation(aws)
    assert_reference(aws, b[1])
    assert partial_names(aws) == live_attempts(aws, "a.csv", "b.csv")
    deliver(aws, "b.csv", csv_bytes(), 3)  # the day has no committed rows left
    assert_recomputation(aws)
    assert_reference(aws, [])
    assert partial_keys(aws) == []
    assert checkpoint(aws).attempts == frozenset()


def test_rows_rejected_in_a_loaded_file_are_not_in_its_partial(aws: MemoryAws) -> None:
    """PROBE. A file whose bad rows (missing region, bad quantity) are rejected but which loads."""
    good = [row(f"G-{i}", region=["West", "East"][i % 2]) for i in range(8)]
    bad = [line("BAD-1", region=""), line("BAD-2", quantity="x")]
    body = csv_bytes(*[r[0] for r in good[:4]], *bad, *[r[0] for r in good[4:]])
    result = deliver(aws, "a.csv", body)["files"][0]
    assert result["status"] == "loaded" and result["rows_rejected"] == 2
    assert_recomputation(aws)
    assert_reference(aws, [r[1] for r in good])


def test_labels_with_separators_unicode_formulas_and_mode_equal_to_sub(aws: MemoryAws) -> None:
    """PROBE. Labels holding , " _ / = + and non-ASCII text; a sub-category spelled like a ship mode."""
    a = file_of(
        row("U-1", region="Nörd_Ost", category='"=SUM(A1),x"', sub="First Class", ship="First Class"),
        row("U-2", region="+South", category='"=SUM(A1),x"', sub="a_b/c", ship="Same Day"),
        row("U-3", region="@West", category="日本語", sub="First Class", ship="First Class"),
        row("U-3", region="@West", category="日本語", sub='"he said ""hi"""', ship="Second Class"),
    )
    deliver(aws, "a.csv", a[0], 0)
    b = file_of(row("U-1", category='"=SUM(A1),x"', sub="First Class", ship="Same Day"))
    deliver(aws, "b.csv", b[0], 1)
    assert_recomputation(aws)
    for loaded_row in a[1] + b[1]:
        assert loaded_row.category in ("=SUM(A1),x", "日本語")


# --------------------------------------------------------------------------------- replays and sources


def test_re_upload_on_another_day_moves_the_rows_and_the_partial(aws: MemoryAws) -> None:
    """PROBE. a.csv loaded on D, re-uploaded on D+1: D's reports drop it, D's partial goes, D+1 counts it."""
    a1 = file_of(row("A-1"), row("A-2", region="East"))
    b = file_of(row("B-1", region="South"))
    deliver(aws, "a.csv", a1[0], 0)
    deliver(aws, "b.csv", b[0], 1)
    later = EVENT_TIME + timedelta(days=1)
    a2 = file_of(row("A-3", region="Central"))
    result = deliver(aws, "a.csv", a2[0], when=later)
    assert result["files"][0]["status"] == "loaded"
    assert_recomputation(aws, DAY)
    assert_reference(aws, b[1], DAY)
    assert_recomputation(aws, later.date())
    assert_reference(aws, a2[1], later.date())
    assert partial_names(aws, DAY) == live_attempts(aws, "b.csv")
    assert partial_names(aws, later.date()) == live_attempts(aws, "a.csv")


def test_same_key_in_two_input_buckets_are_two_sources(aws: MemoryAws) -> None:
    """PROBE. b1/a.csv and b2/a.csv share order ids; replacing one keeps the other's rows."""
    one = file_of(row("S-1"), row("S-2", region="East"))
    two = file_of(row("S-1"), row("S-3", region="South"))
    deliver(aws, "a.csv", one[0], 0, bucket="input-one")
    deliver(aws, "a.csv", two[0], 1, bucket="input-two")
    assert_recomputation(aws)
    assert_reference(aws, one[1] + two[1])
    three = file_of(row("S-9", region="Central"))
    deliver(aws, "a.csv", three[0], 2, bucket="input-one")
    assert_recomputation(aws)
    assert_reference(aws, three[1] + two[1])
    assert len(partial_keys(aws)) == 2


def test_a_replayed_event_is_not_counted_twice(aws: MemoryAws) -> None:
    """PROBE. The same event delivered three times, interleaved with another file."""
    a = file_of(row("A-1"), row("A-1", sub="Tables"))
    head = aws.upload("a.csv", a[0])
    event = aws.object_created_event("a.csv", head, EVENT_TIME)
    aws.deliver(event)
    b = file_of(row("A-1", region="East"))
    deliver(aws, "b.csv", b[0], 1)
    aws.deliver(event)
    aws.deliver(event)
    assert_recomputation(aws)
    assert_reference(aws, a[1] + b[1])
    assert len(checkpoint(aws).attempts) == 2


# ------------------------------------------------------------------------------ crashes and checkpoints


def test_crash_debris_on_one_day_is_collected_when_the_retry_lands_on_another(aws: MemoryAws) -> None:
    """PROBE. c.csv's attempt dies after its partial, before its commit; its next version lands a day later."""
    b = file_of(row("B-1"))
    deliver(aws, "b.csv", b[0], 0)
    restore = kill_at_commit(aws, "c.csv")
    c1 = file_of(row("C-1", region="East"))
    with pytest.raises(Killed):
        deliver(aws, "c.csv", c1[0], 1)
    restore()
    assert len(partial_keys(aws)) == 2  # b's and the debris
    deliver(aws, "d.csv", file_of(row("D-1"))[0], 2)  # a refresh with debris there: not counted
    assert_recomputation(aws)
    later = EVENT_TIME + timedelta(days=1)
    c2 = file_of(row("C-2", region="South"))
    deliver(aws, "c.csv", c2[0], when=later)
    assert partial_names(aws, DAY) == live_attempts(aws, "b.csv", "d.csv")
    assert [
        k for k in aws.output_keys("dataset/") if paths.source_id(aws.input_bucket, "c.csv") in k and "2026-11-26" in k
    ] == []
    assert_recomputation(aws, later.date())


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError("connection reset after the PUT landed"), PreconditionFailedError("412 on the SDK's retry")],
    ids=["lost-answer", "retried-412"],
)
def test_defect_a_commit_whose_answer_is_lost_deletes_the_committed_partial_and_objects(
    aws: MemoryAws, error: BaseException
) -> None:
    """DEFECT. The commit's conditional PUT lands but the client sees an error (or the SDK's retry sees 412).

    ``_run`` then treats the attempt as failed (``_abandon``) or as having lost to its own twin
    (``_Lost`` -> ``_delete_own``) and deletes its Parquet objects and its partial, while the state
    names it as the committed load. A redelivery answers "already loaded", so the file's rows are gone
    from the dataset and the reports for good.
    """
    b = file_of(row("B-1", region="East"))
    deliver(aws, "b.csv", b[0], 0)
    state = f"state/sources/{paths.source_id(aws.input_bucket, 'a.csv')}.json"
    aws.storage = LandsThenFails(aws.storage, state, 2, error)  # the first write is the write-ahead
    a = file_of(row("A-1"), row("A-2", region="South"))
    head = aws.upload("a.csv", a[0])
    event = aws.object_created_event("a.csv", head, EVENT_TIME + timedelta(seconds=1))
    with contextlib.suppress(Exception):  # the record fails; Lambda retries the event
        aws.deliver(event)
    aws.storage = aws.memory
    aws.deliver(event)  # the retry
    assert_recomputation(aws)
    assert live_attempts(aws, "a.csv") <= partial_names(aws)
    assert_reference(aws, a[1] + b[1])  # before the fix: only b.csv's rows


@pytest.mark.parametrize(
    "damage",
    ["garbage", "empty", "truncated", "no-metadata", "old-version", "foreign-attempts"],
)
def test_a_damaged_or_foreign_checkpoint_is_rebuilt(aws: MemoryAws, damage: str) -> None:
    """PROBE. Whatever sits at the checkpoint's key, the next refresh is exact and leaves a good checkpoint."""
    a = file_of(row("A-1"), row("A-2", region="East"))
    deliver(aws, "a.csv", a[0], 0)
    settings = aws.settings()
    key = paths.report_checkpoint_key(settings, DAY)
    good = aws.read_output(key)
    if damage == "garbage":
        body = b"not parquet at all"
    elif damage == "empty":
        body = b""
    elif damage == "truncated":
        body = good[: len(good) // 2]
    elif damage == "no-metadata":
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table({"code": pa.array([0], pa.int32()), "order": pa.array([1])}), sink)
        body = sink.getvalue().to_pybytes()
    else:
        meta = json.loads(pq.read_schema(pa.BufferReader(good)).metadata[b"orders_analytics.report_partial"])
        if damage == "old-version":
            meta["version"] = 0
        else:
            meta["attempts"] = ["0123456789abcdef_000000000000"]  # an attempt that is not committed
        table = pq.read_table(pa.BufferReader(good)).replace_schema_metadata(
            {b"orders_analytics.report_partial": json.dumps(meta)}
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        body = sink.getvalue().to_pybytes()
    aws.storage.put(settings.output_bucket, key, body)
    b = file_of(row("B-1", region="South"))
    deliver(aws, "b.csv", b[0], 1)
    assert_recomputation(aws)
    assert_reference(aws, a[1] + b[1])
    assert checkpoint(aws).attempts == frozenset(live_attempts(aws, "a.csv", "b.csv"))


def test_a_partial_of_another_attempt_copied_under_a_committed_name_is_not_trusted(aws: MemoryAws) -> None:
    """PROBE. A partial whose own attempts do not name its key's attempt: the objects are read instead."""
    a = file_of(row("A-1"), row("A-2", region="East"))
    b = file_of(row("B-1", region="South"))
    deliver(aws, "a.csv", a[0], 0)
    deliver(aws, "b.csv", b[0], 1)
    settings = aws.settings()
    a_key, b_key = sorted(partial_keys(aws), key=lambda k: paths.source_id(aws.input_bucket, "a.csv") in k)
    aws.storage.put(settings.output_bucket, b_key, aws.read_output(a_key))  # a's partial under b's name
    aws.storage.delete(settings.output_bucket, [paths.report_checkpoint_key(settings, DAY)])
    deliver(aws, "c.csv", file_of(row("C-1"))[0], 2)
    assert_recomputation(aws)


def test_a_slow_refresh_overwriting_the_checkpoint_with_an_older_one_loses_nothing(aws: MemoryAws) -> None:
    """PROBE. A refresh that read {a} writes its checkpoint after another wrote {a, b}, and after a.csv changed."""
    a = file_of(row("A-1"), row("A-2", region="East"))
    deliver(aws, "a.csv", a[0], 0)
    settings = aws.settings()
    key = paths.report_checkpoint_key(settings, DAY)
    only_a = aws.read_output(key)
    b = file_of(row("B-1", region="South"), row("A-1"))
    deliver(aws, "b.csv", b[0], 1)
    aws.storage.put(settings.output_bucket, key, only_a)
    c = file_of(row("C-1"))
    deliver(aws, "c.csv", c[0], 2)
    assert_recomputation(aws)
    assert_reference(aws, a[1] + b[1] + c[1])
    aws.storage.put(settings.output_bucket, key, only_a)
    a2 = file_of(row("A-9", region="Central"))
    deliver(aws, "a.csv", a2[0], 3)  # a's attempt in the stale checkpoint is replaced
    assert_recomputation(aws)
    assert_reference(aws, a2[1] + b[1] + c[1])


def test_a_refresh_racing_a_replacement_converges(aws: MemoryAws) -> None:
    """PROBE. While a refresh merges, a.csv's new version commits and its old partial and objects are deleted."""
    a = file_of(row("A-1"), row("A-2", region="East"))
    b = file_of(row("B-1", region="South"))
    deliver(aws, "a.csv", a[0], 0)
    deliver(aws, "b.csv", b[0], 1)
    a2 = file_of(row("A-3", region="Central"))
    head = aws.upload("a.csv", a2[0])
    event = aws.object_created_event("a.csv", head, EVENT_TIME + timedelta(seconds=2))
    faulty = FaultyStorage(aws.memory)
    aws.storage = faulty
    settings = aws.settings()
    fired: list[bool] = []

    def replace_a_meanwhile(_bucket: str, key: str, *_: Any, **__: Any) -> None:
        if key.startswith(paths.partials_folder(settings, DAY)) and not fired:
            fired.append(True)
            aws.storage = aws.memory
            aws.deliver(event)  # commits and collects a's old attempt while this refresh reads partials
            aws.storage = faulty

    faulty.before("get", replace_a_meanwhile)
    aws.storage.delete(settings.output_bucket, [paths.report_checkpoint_key(settings, DAY)])
    daily_reports.refresh_reports(faulty, settings, DAY)
    aws.storage = aws.memory
    assert fired
    assert_recomputation(aws)
    assert_reference(aws, a2[1] + b[1])


def test_defect_a_damaged_checkpoint_that_still_parses_is_trusted_and_spreads(aws: MemoryAws) -> None:
    """DEFECT (robustness). A checkpoint whose metadata lost its pairs but kept its attempts.

    ``_read_partial`` only guards parsing, and ``merged_partial`` trusts any checkpoint whose attempts
    are all committed: its codes now index the *next* partial's pairs, so a.csv's orders are counted
    under b.csv's labels (before the fix: "Furniture,First Class,3" for "Furniture,Standard Class,2"), and the
    merge is saved as the new checkpoint, so the damage stays until one of its attempts is replaced.
    (With no new partial, ``build`` raises instead: the refresh fails on every retry.)
    Expected: a checkpoint that does not hold together is rebuilt from the partials, like an unreadable one.
    """
    a = file_of(row("A-1"), row("A-2", region="East"))
    deliver(aws, "a.csv", a[0], 0)
    settings = aws.settings()
    key = paths.report_checkpoint_key(settings, DAY)
    good = aws.read_output(key)
    meta = json.loads(pq.read_schema(pa.BufferReader(good)).metadata[b"orders_analytics.report_partial"])
    meta["pairs"] = []
    table = pq.read_table(pa.BufferReader(good)).replace_schema_metadata(
        {b"orders_analytics.report_partial": json.dumps(meta)}
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    aws.storage.put(settings.output_bucket, key, sink.getvalue().to_pybytes())
    b = file_of(row("B-1", region="South", sub="Tables", ship="First Class"))
    result = deliver(aws, "b.csv", b[0], 1)
    assert result["files"][0]["status"] == "loaded"
    assert_recomputation(aws)
    assert_reference(aws, a[1] + b[1])


def test_a_second_pass_after_objects_were_written_does_not_count_the_first(aws: MemoryAws, caplog: Any) -> None:
    """PROBE. Objects are written, then a row with too many fields past the 1 MiB sniff forces a careful re-read."""
    aws.env = {**aws.env, "ROWS_PER_FILE": "2000", "CSV_BLOCK_BYTES": "65536"}
    good = [row(f"R-{i}", region=["West", "East"][i % 2], sub=["Chairs", "Tables"][i % 3 % 2]) for i in range(8000)]
    malformed = row("R-Q")[0] + ",one too many"
    body = csv_bytes(*[r[0] for r in good], malformed)
    assert len(body) > 1 << 20
    result = deliver(aws, "a.csv", body)["files"][0]
    assert result["status"] == "loaded" and result["rows_loaded"] == 8000, result
    assert "reading the file again" in caplog.text
    assert_recomputation(aws)
    assert_reference(aws, [r[1] for r in good])
    assert len(committed(aws)) >= 2


def test_a_second_pass_in_another_encoding_does_not_count_the_first(aws: MemoryAws, caplog: Any) -> None:
    """PROBE. A Windows-1252 byte past the 1 MiB sniff of a file whose UTF-8 pass already wrote objects."""
    aws.env = {**aws.env, "ROWS_PER_FILE": "2000", "CSV_BLOCK_BYTES": "65536"}
    good = [row(f"E-{i}", region=["West", "East"][i % 2]) for i in range(8000)]
    last = row("E-X", region="Süd")
    body = csv_bytes(*[r[0] for r in good]) + last[0].encode("cp1252") + b"\r\n"
    result = deliver(aws, "a.csv", body)["files"][0]
    assert result["status"] == "loaded", result
    assert "reading the file again" in caplog.text
    assert_recomputation(aws)
    assert_reference(aws, [r[1] for r in good] + [last[1]])


def test_ship_modes_missing_in_every_spelling(aws: MemoryAws) -> None:
    """PROBE. A category whose lines have no ship mode at all, and an order whose mode is missing in one file."""
    a = file_of(
        row("M-1", category="Furniture", ship="Not Available"),
        row("M-2", category="Furniture", ship=""),
        row("M-3", category="Furniture", ship="unknown"),
        row("M-4", category="Technology", ship="N/A"),
        row("M-4", category="Technology", ship="Same Day", sub="Phones"),
    )
    b = file_of(row("M-1", category="Furniture", ship="First Class"), row("M-4", category="Technology", ship="n/a"))
    deliver(aws, "a.csv", a[0], 0)
    deliver(aws, "b.csv", b[0], 1)
    assert_recomputation(aws)
    assert_reference(aws, a[1] + b[1])


def test_defect_trim_alike_regions_on_moto_too(world: World) -> None:
    """DEFECT. The everyday-cents case on both storages (in memory and the real adapter on moto)."""
    test_defect_region_labels_that_trim_alike_change_a_report_cent_with_everyday_prices(world)  # type: ignore[arg-type]
