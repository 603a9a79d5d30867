"""Exactly-once under any interleaving, checked against a model (hypothesis stateful testing).

Random sequences of uploads (loadable, partly bad, or refused versions), deliveries,
re-deliveries and late deliveries of any earlier event, deletions of the input object,
crashes (the process dies: no clean-up runs) and transient failures at every write point,
commits that land while the invocation fails (its answer lost, or the process killed after it),
and pairs of invocations interleaved at the commit (the second runs to completion while the
first is between its last write and its commit). After each step the dataset and state are
checked against the model; ``settle`` redelivers every event as Lambda's retries would, and
then the dataset must hold exactly the rows of the newest loadable version of each key, with
no debris, and the reports must equal a reference over the dataset.

Runs on the in-memory storage at 100 examples of up to 15 steps, and on the real adapter
against moto at 8 of up to 10 (ten times as many under ``make test-thorough``).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from lambda_app import paths
from lambda_app.errors import RecordsFailedError
from lambda_app.model import sequence_number
from orders_tools.emulator import LocalAws
from tests import reference
from tests.fakes import FaultyStorage, Killed, MemoryAws, fail_after
from tests.helpers import CANONICAL_HEADER, EVENT_TIME, World, csv_bytes, examples, line

KEYS = ("a.csv", "b.csv")
FAULT_POINTS = ("dataset-1", "dataset-2", "partition", "manifest")
MISSING_COLUMNS = "Order Id,Order Date,Region"


@dataclass(frozen=True)
class Version:
    """One upload of a key: its good rows, how many bad ones, and whether the file as a whole is refused."""

    key: str
    number: int
    good: tuple[str, ...]  # order ids of the loadable lines
    bad: int
    refused: bool

    @property
    def loadable(self) -> bool:
        """Not refused as a whole: columns present, some rows, no more than MAX_REJECT_RATIO (0.25) bad."""
        rows = len(self.good) + self.bad  # a header alone loads nothing, and is no error
        return not self.refused and self.bad <= 0.25 * rows

    def body(self) -> bytes:
        if self.refused:
            return csv_bytes("x,2023-01-01,West", header=MISSING_COLUMNS)
        lines = [line(order_id, region=("West", "East")[i % 2]) for i, order_id in enumerate(self.good)]
        lines += [line(f"BAD-{self.key}-{self.number}-{i}", quantity="0") for i in range(self.bad)]
        return csv_bytes(*lines, header=CANONICAL_HEADER)

    def ref_lines(self) -> list[reference.RefLine]:
        return [
            reference.RefLine(
                order_id=order_id,
                region=("West", "East")[i % 2],
                category="Furniture",
                sub_category="Bookcases",
                ship_mode=reference.ship_mode_value("Standard Class"),
                profit=reference.line_profit("240", "260", "2", "2"),
            )
            for i, order_id in enumerate(self.good)
        ]


@dataclass
class Event:
    version: Version
    json: dict[str, Any]
    day: str  # YYYY-MM-DD

    @property
    def sequencer(self) -> int:
        number = sequence_number(self.json["Records"][0]["s3"]["object"]["sequencer"])
        assert number is not None
        return number


def _is_dataset(_bucket: str, key: str, *_: Any, **__: Any) -> bool:
    return key.startswith("dataset/")


def _is_manifest(_bucket: str, key: str, *_: Any, **__: Any) -> bool:
    return key.startswith("runs/")


class PipelineMachine(RuleBasedStateMachine):
    """The model: per key, the committed version (newest loadable version whose event was processed)."""

    world: World

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []
        self.versions = dict.fromkeys(KEYS, 0)
        self.committed: dict[str, Event] = {}
        self.deleted: set[Version] = set()  # versions deleted from the input bucket

    # ---------------------------------------------------------------- helpers

    def _settings_env(self) -> None:
        pass

    def _faulty(self) -> FaultyStorage:
        faulty = FaultyStorage(
            self.world.storage if not isinstance(self.world.storage, FaultyStorage) else self.world.storage.inner
        )
        self.world.storage = faulty
        return faulty

    def _plain(self) -> None:
        if isinstance(self.world.storage, FaultyStorage):
            self.world.storage = self.world.storage.inner

    def _expect(self, event: Event, summary: dict[str, Any]) -> None:
        """Check one delivery's answer against the model and advance the model."""
        [answer] = summary["files"]
        key = event.version.key
        current = self.committed.get(key)
        if current is not None and event.sequencer < current.sequencer:
            assert answer["reason"] == "stale_event", answer
        elif current is not None and event.sequencer == current.sequencer:
            assert answer["status"] == "loaded", answer  # the committed event again: its recorded result
        elif event.version in self.deleted:
            assert answer["reason"] == "object_missing", answer
        elif not event.version.loadable:
            assert answer["status"] == "rejected_file", answer
        else:
            assert answer["status"] == "loaded", answer
            assert answer["rows_loaded"] == len(event.version.good), answer
            self.committed[key] = event

    def _deliver(self, event: Event) -> dict[str, Any] | None:
        """Deliver; ``None`` when the invocation failed (transiently or by a kill), as Lambda would retry it."""
        try:
            return self.world.deliver(event.json)
        except (RecordsFailedError, Killed):
            return None

    # ------------------------------------------------------------------ rules

    @rule(
        key=st.sampled_from(KEYS),
        good=st.integers(min_value=0, max_value=5),
        bad=st.integers(min_value=0, max_value=1),
        refused=st.sampled_from([False, False, False, True]),
        later_day=st.sampled_from([False, False, True]),
    )
    def upload(self, key: str, good: int, bad: int, refused: bool, later_day: bool) -> None:
        self.versions[key] += 1
        number = self.versions[key]
        version = Version(key, number, tuple(f"{key[0].upper()}{number}-{i}" for i in range(good)), bad, refused)
        when = EVENT_TIME + timedelta(days=1 if later_day else 0, seconds=len(self.events))
        head = self.world.upload(key, version.body())
        self.events.append(Event(version, self.world.object_created_event(key, head, when), f"{when:%Y-%m-%d}"))

    @precondition(lambda self: self.events)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        """Any earlier event, delivered (again): first delivery, duplicate, or late and out of order."""
        event = data.draw(st.sampled_from(self.events))
        summary = self._deliver(event)
        assert summary is not None
        self._expect(event, summary)

    @precondition(lambda self: self._fresh())
    @rule(data=st.data(), kill=st.booleans())
    def lose_the_commits_answer(self, data: st.DataObject, kill: bool) -> None:
        """The commit's PUT reaches storage, then the invocation dies or the answer is lost (a reset
        connection): the load is committed although the invocation failed, and its rows must stay."""
        event = data.draw(st.sampled_from(self._fresh()))
        self._fail_after_the_commit(event, self._faulty(), kill)

    @precondition(lambda self: self.events)
    @rule(data=st.data(), where=st.sampled_from(FAULT_POINTS), kill=st.booleans())
    def fail(self, data: st.DataObject, where: str, kill: bool) -> None:
        """The invocation dies (no clean-up) or hits a transient error at a write point."""
        event = data.draw(st.sampled_from(self.events))
        faulty = self._faulty()
        if kill:

            def action(*_: Any, **__: Any) -> None:
                raise Killed

        else:
            action = fail_after(1, "SlowDown", where)
        if where.startswith("dataset-"):
            calls = {"n": 0}
            nth = int(where[-1])

            def on_nth(*args: Any, **kwargs: Any) -> bool:
                if not _is_dataset(*args, **kwargs):
                    return False
                calls["n"] += 1
                return calls["n"] == nth

            faulty.before("put", action, on_nth)
        elif where == "partition":
            faulty.before("add_partition", action)
        else:
            faulty.before("put", action, _is_manifest)
        try:
            summary = self._deliver(event)
        finally:
            self._plain()
        if summary is not None:  # the fault point was never reached (stale, missing, refused, nothing to write)
            self._expect(event, summary)
        elif where == "manifest":  # past the commit: the load stands, the retry finishes it
            current = self.committed.get(event.version.key)
            if current is None or event.sequencer > current.sequencer:
                self.committed[event.version.key] = event

    def _fail_after_the_commit(self, event: Event, faulty: FaultyStorage, kill: bool) -> None:
        sequencer = event.json["Records"][0]["s3"]["object"]["sequencer"]
        landed = {"n": 0}

        def is_the_commit(_bucket: str, key: str, body: bytes, *_: Any, **__: Any) -> bool:
            if landed["n"] or not key.startswith("state/sources/"):
                return False
            state = json.loads(body)
            return state.get("sequencer") == sequencer and (state.get("result") or {}).get("status") == "loaded"

        def land_then_fail(*args: Any, **kwargs: Any) -> None:
            faulty.inner.put(*args, **kwargs)  # the write reaches storage ...
            landed["n"] += 1
            if kill:
                raise Killed
            raise ConnectionResetError("the commit's answer was lost")  # ... and its answer does not come back

        faulty.before("put", land_then_fail, is_the_commit)
        try:
            summary = self._deliver(event)
        finally:
            self._plain()
        if summary is not None:  # no commit of this event was attempted (stale, missing, refused, already loaded)
            assert not landed["n"]
            self._expect(event, summary)
            return
        assert landed["n"], "the delivery failed before its commit"
        self.committed[event.version.key] = event  # it landed: the retry must answer "loaded" and keep the rows

    def _fresh(self) -> list[Event]:
        """Events that would load rows now: newer than the key's committed one, version present, loadable."""
        return [
            e
            for e in self.events
            if e.version.loadable
            and e.version.good
            and e.version not in self.deleted
            and (e.version.key not in self.committed or e.sequencer > self.committed[e.version.key].sequencer)
        ]

    @precondition(lambda self: self._fresh())
    @rule(data=st.data(), same_key=st.sampled_from([True, True, True, False]))
    def interleave(self, data: st.DataObject, same_key: bool) -> None:
        """Invocation B runs start to finish while invocation A is between its writes and its commit."""
        first = data.draw(st.sampled_from(self._fresh()))
        pool = [e for e in self.events if e.version.key == first.version.key] if same_key else self.events
        second = data.draw(st.sampled_from(pool))
        faulty = self._faulty()
        inner: list[dict[str, Any] | None] = []

        def run_second(*_: Any, **__: Any) -> None:
            if not inner:
                inner.append(None)
                self._plain()
                try:
                    inner[0] = self._deliver(second)
                finally:
                    self.world.storage = faulty

        faulty.before("add_partition", run_second)
        try:
            outer = self._deliver(first)
        finally:
            self._plain()
        if inner and inner[0] is not None:
            self._expect(second, inner[0])
        if outer is not None:
            [answer] = outer["files"]
            key = first.version.key
            current = self.committed.get(key)
            if answer["status"] == "loaded" and (current is None or first.sequencer > current.sequencer):
                self.committed[key] = first
            elif answer["status"] == "loaded":
                assert current is not None and first.sequencer == current.sequencer, (answer, current)

    @rule(key=st.sampled_from(KEYS))
    def delete_input(self, key: str) -> None:
        self.world.delete_input(key)
        self.deleted |= {e.version for e in self.events if e.version.key == key}

    # ------------------------------------------------------------- invariants

    def _state(self, key: str) -> dict[str, Any]:
        sid = paths.source_id(self.world.input_bucket, key)
        keys = self.world.output_keys(f"state/sources/{sid}.json")
        return json.loads(self.world.read_output(keys[0])) if keys else {}

    def _rows(self, objects: list[str]) -> list[str]:
        found: list[str] = []
        for key in objects:
            table = pq.read_table(io.BytesIO(self.world.read_output(key)), columns=["order_id"])
            found += table.column("order_id").to_pylist()
        return sorted(found)

    @invariant()
    def committed_rows_are_the_models(self) -> None:
        """The state names the model's committed event, and that attempt's objects hold exactly its rows."""
        for key in KEYS:
            state, expected = self._state(key), self.committed.get(key)
            if expected is None:
                assert not state.get("attempt") or not state.get("days"), state
                continue
            assert sequence_number(state.get("sequencer")) == expected.sequencer, (key, state.get("sequencer"))
            sid = paths.source_id(self.world.input_bucket, key)
            objects = [k for k in self.world.output_keys("dataset/") if f"/{sid}_{state['attempt']}_" in k]
            assert self._rows(objects) == sorted(expected.version.good), key

    @rule()
    def settle(self) -> None:
        """Every event delivered again, in upload order, as the retries would; then no debris, exact reports."""
        for event in list(self.events):
            summary = self._deliver(event)
            assert summary is not None
            self._expect(event, summary)
        wanted: list[str] = []
        days: dict[str, list[Version]] = {}
        for key in KEYS:
            state = self._state(key)
            assert not state.get("pending") and not state.get("garbage"), state
            if key in self.committed:
                event = self.committed[key]
                wanted += event.version.good
                days.setdefault(event.day, []).append(event.version)
        assert self._rows(self.world.output_keys("dataset/")) == sorted(wanted)
        for day in sorted({e.day for e in self.events}):
            lines = [ref for version in days.get(day, []) for ref in version.ref_lines()]
            expected = reference.report_rows(lines)
            folder = f"analytics/{day.replace('-', '/')}/"
            if not self.world.output_keys(folder):
                assert not lines
                continue
            for name, rows in expected.items():
                text = self.world.read_output(f"{folder}{name}.csv").decode()
                assert [r.split(",") for r in text.splitlines()[1:]] == [[*map(str, r)] for r in rows], (day, name)


class InMemory(PipelineMachine):
    @initialize()
    def start(self) -> None:
        self.world = MemoryAws()


class OnMoto(PipelineMachine):
    emulator: LocalAws

    @initialize()
    def start(self) -> None:
        self.emulator.reset()
        self.world = self.emulator


TestInMemory = InMemory.TestCase
TestInMemory.settings = settings(
    max_examples=examples(100), stateful_step_count=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.integration
def test_on_moto(emulator: LocalAws) -> None:
    OnMoto.emulator = emulator
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        OnMoto,
        settings=settings(
            max_examples=examples(8),
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
