"""``JsonObjects.update`` starts from the version it last saw, and a stale version never decides anything.

Each test runs on the in-memory storage and on the real AWS adapter against moto.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from lambda_app import paths
from lambda_app.app import App
from lambda_app.source_state import JsonObjects
from tests.fakes import FaultyStorage
from tests.helpers import EVENT_TIME, csv_bytes, line

KEY = "state/sources/0123456789abcdef.json"


@pytest.fixture
def objects(world: Any) -> tuple[JsonObjects, FaultyStorage, Counter[str]]:
    """A ``JsonObjects`` over the world's storage, with the storage calls it makes counted."""
    calls: Counter[str] = Counter()
    storage = FaultyStorage(world.storage)
    for method in ("get", "put"):
        storage.before(method, lambda *_, method=method, **__: calls.update([method]))
    return JsonObjects(storage, world.output_bucket), storage, calls


def test_an_update_after_a_read_or_a_write_of_the_key_does_not_read_it_again(
    objects: tuple[JsonObjects, FaultyStorage, Counter[str]],
) -> None:
    json_objects, _, calls = objects
    json_objects.update(KEY, lambda current: {"n": 1})
    json_objects.read(KEY)
    calls.clear()
    json_objects.update(KEY, lambda current: {"n": (current or {})["n"] + 1})
    json_objects.update(KEY, lambda current: {"n": (current or {})["n"] + 1})
    assert calls == {"put": 2}
    assert json_objects.read(KEY)[0] == {"n": 3}


def test_an_update_from_a_stale_version_loses_its_write_and_redoes_it_on_the_current_one(
    objects: tuple[JsonObjects, FaultyStorage, Counter[str]],
) -> None:
    json_objects, storage, _ = objects
    json_objects.update(KEY, lambda current: {"seen": ["mine"]})
    other = JsonObjects(storage.inner, json_objects.bucket)  # another invocation changes it meanwhile
    other.update(KEY, lambda current: {"seen": [*(current or {})["seen"], "other"]})
    json_objects.update(KEY, lambda current: {"seen": [*(current or {})["seen"], "mine again"]})
    assert json_objects.read(KEY)[0] == {"seen": ["mine", "other", "mine again"]}


def test_nothing_to_do_in_a_stale_version_is_decided_again_on_the_current_one(
    objects: tuple[JsonObjects, FaultyStorage, Counter[str]],
) -> None:
    json_objects, storage, _ = objects
    json_objects.update(KEY, lambda current: {"garbage": []})
    other = JsonObjects(storage.inner, json_objects.bucket)
    other.update(KEY, lambda current: {"garbage": ["an attempt"]})
    seen: list[Any] = []

    def collect(current: dict[str, Any] | None) -> dict[str, Any] | None:
        seen.append(current)
        return {"garbage": []} if current and current["garbage"] else None

    assert json_objects.update(KEY, collect) == {"garbage": []}
    assert seen == [{"garbage": []}, {"garbage": ["an attempt"]}]
    assert json_objects.read(KEY)[0] == {"garbage": []}


def test_a_key_read_as_absent_is_created_without_reading_it_again(
    objects: tuple[JsonObjects, FaultyStorage, Counter[str]],
) -> None:
    """A new file's write-ahead: its state was just read as missing, so the conditional create needs no GET."""
    json_objects, _, calls = objects
    assert json_objects.read(KEY) == (None, None)
    calls.clear()
    json_objects.update(KEY, lambda current: {"n": 1 if current is None else -1})
    assert calls == {"put": 1}
    assert json_objects.read(KEY)[0] == {"n": 1}


def test_a_key_remembered_as_absent_that_appeared_meanwhile_is_changed_as_it_now_is(
    objects: tuple[JsonObjects, FaultyStorage, Counter[str]],
) -> None:
    """The create loses (If-None-Match) and the change is redone on the document another invocation wrote."""
    json_objects, storage, calls = objects
    json_objects.read(KEY)
    JsonObjects(storage.inner, json_objects.bucket).update(KEY, lambda current: {"seen": ["other"]})
    calls.clear()
    json_objects.update(KEY, lambda current: {"seen": [*(current or {}).get("seen", []), "mine"]})
    assert json_objects.read(KEY)[0] == {"seen": ["other", "mine"]}
    assert calls == {"put": 2, "get": 2}  # the lost create, then a read and the write (and the read above)


@pytest.mark.parametrize("there", ["newer", "older"])
def test_put_if_newer_starts_as_a_create_and_still_respects_a_newer_document(
    objects: tuple[JsonObjects, FaultyStorage, Counter[str]], there: str
) -> None:
    """Manifests and error records are usually new: no GET first; an existing one is read after the lost create."""
    json_objects, storage, calls = objects
    decided = {"newer": "0000000000000000002", "older": "0000000000000000000"}[there]
    JsonObjects(storage.inner, json_objects.bucket).update(KEY, lambda current: {"decided_by": decided})
    calls.clear()
    written = json_objects.put_if_newer(KEY, {"decided_by": "0000000000000000001"})
    assert written == (there == "older")
    assert calls == ({"put": 2, "get": 1} if written else {"put": 1, "get": 1})
    expected = decided if there == "newer" else "0000000000000000001"
    assert json_objects.read(KEY)[0] == {"decided_by": expected}
    calls.clear()
    assert json_objects.put_if_newer(f"{KEY}.new", {"decided_by": "1"})
    assert calls == {"put": 1}


def test_a_new_files_delivery_reads_its_state_three_times_and_writes_it_twice(world: Any) -> None:
    """Expected: the write-ahead and the commit write it; it is read at the start, after the garbage
    collection's listing (what is live), and by the refresh (which objects are committed). The collection
    starts from the state the commit wrote instead of a fourth read."""
    storage = FaultyStorage(world.storage)
    sid = paths.source_id(world.input_bucket, "new.csv")
    state_key = paths.state_key(world.settings(), sid)
    calls: Counter[str] = Counter()
    for method in ("get", "put"):
        storage.before(method, lambda _b, key, *_, method=method, **__: calls.update([method] * (key == state_key)))
    head = world.upload("new.csv", csv_bytes(line("CA-1")))
    answer = App(world.settings(), storage).handle(world.object_created_event("new.csv", head, EVENT_TIME), None)
    assert answer["files"][0]["status"] == "loaded"
    assert calls == {"get": 3, "put": 2}
