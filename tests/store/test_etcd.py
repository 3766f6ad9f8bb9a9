"""The store: revisions, compare-and-swap, and the watch log written with each object."""

from __future__ import annotations

import orjson
import pytest

from cluster import etcd
from cluster.models import StoredObject, TraceStep, WatchEvent

KEY = etcd.Key("", "ConfigMap", "default", "cfg")


def _body(value: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default"},
        "data": {"v": value},
    }


def test_every_write_takes_the_next_revision_and_logs_an_event(cluster) -> None:
    """Create, update and delete each take the next revision and append a matching watch event."""
    start = etcd.current_revision(cluster.pk)
    created = etcd.create(cluster.pk, KEY, _body("1"))
    assert created["metadata"]["resourceVersion"] == str(start + 1)
    updated = etcd.update(cluster.pk, KEY, _body("2"), start + 1)
    assert updated["metadata"]["resourceVersion"] == str(start + 2)
    gone = etcd.delete(cluster.pk, KEY, None)
    assert gone["data"] == {"v": "2"}
    events = etcd.events_after(cluster.pk, start)
    assert [(e.revision, e.type) for e in events] == [
        (start + 1, "ADDED"),
        (start + 2, "MODIFIED"),
        (start + 3, "DELETED"),
    ]
    assert events[1].object["data"] == {"v": "2"}
    assert etcd.get(cluster.pk, KEY) is None


def test_stale_write_is_refused_and_changes_nothing(cluster) -> None:
    """A write with a stale revision raises CompareFailed and leaves object and log untouched."""
    etcd.create(cluster.pk, KEY, _body("1"))
    rv = int(etcd.get(cluster.pk, KEY)["metadata"]["resourceVersion"])
    etcd.update(cluster.pk, KEY, _body("2"), rv)
    before = WatchEvent.objects.count()
    with pytest.raises(etcd.CompareFailed):
        etcd.update(cluster.pk, KEY, _body("3"), rv)
    with pytest.raises(etcd.CompareFailed):
        etcd.delete(cluster.pk, KEY, rv)
    assert etcd.get(cluster.pk, KEY)["data"] == {"v": "2"}
    assert WatchEvent.objects.count() == before


def test_create_of_existing_key_and_update_of_missing_key(cluster) -> None:
    """Creating a taken key and updating a missing one both fail."""
    etcd.create(cluster.pk, KEY, _body("1"))
    with pytest.raises(etcd.KeyExists):
        etcd.create(cluster.pk, KEY, _body("1"))
    with pytest.raises(etcd.KeyMissing):
        etcd.update(cluster.pk, etcd.Key("", "ConfigMap", "default", "nope"), _body("x"), 1)
    assert StoredObject.objects.filter(cluster=cluster, kind="ConfigMap").count() == 1


def test_trace_steps_share_the_revision_sequence(cluster) -> None:
    """Trace steps written with a write take the numbers just before it, in order."""
    start = etcd.current_revision(cluster.pk)
    steps = [etcd.PendingTrace("kube-apiserver", s, f"apiserver.{s}") for s in ("authn", "authz")]
    stored = etcd.create(cluster.pk, KEY, _body("1"), steps)
    assert stored["metadata"]["resourceVersion"] == str(start + 3)
    seqs = list(TraceStep.objects.filter(cluster=cluster, seq__gt=start).order_by("seq").values_list("seq", "stage"))
    assert seqs == [(start + 1, "authn"), (start + 2, "authz")]
    last = etcd.record(cluster.pk, [etcd.PendingTrace("kube-scheduler", "filter", "scheduler.filter")])
    assert last == start + 4


def test_revisions_are_per_cluster(cluster, owner) -> None:
    """Two clusters count revisions independently."""
    from cluster.bootstrap import Topology, create_cluster

    other = create_cluster("second", owner, Topology(workers=1))
    a = etcd.current_revision(cluster.pk)
    etcd.create(other.pk, KEY, _body("x"))
    assert etcd.current_revision(cluster.pk) == a
    assert etcd.get(cluster.pk, KEY) is None


def test_saving_a_stale_cluster_row_keeps_the_revision(cluster) -> None:
    """A plain save() of an old Cluster instance cannot rewind the revision counter."""
    stale = cluster.__class__.objects.get(pk=cluster.pk)
    etcd.create(cluster.pk, KEY, _body("1"))
    head = etcd.current_revision(cluster.pk)
    stale.clock_speed = 2.0
    stale.save()
    assert etcd.current_revision(cluster.pk) == head
    etcd.update(cluster.pk, KEY, _body("2"), head)


def _raw(sql: str, params: list) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        value = cursor.fetchone()[0]
    return value if isinstance(value, str) else __import__("json").dumps(value)


def test_big_bodies_are_stored_packed_and_read_back_whole(cluster) -> None:
    """A body over the threshold is packed in both its rows; every way of reading it unpacks it."""
    from cluster import jsonutil
    from cluster.controlplane.informer import Informers

    big = "".join(f"node-{i}:passed;" for i in range(2000))
    start = etcd.current_revision(cluster.pk)
    etcd.create(cluster.pk, KEY, _body(big))
    small_key = etcd.Key("", "ConfigMap", "default", "small")
    etcd.create(cluster.pk, small_key, {**_body("x"), "metadata": {"name": "small", "namespace": "default"}})

    stored = _raw(
        f"SELECT body FROM {StoredObject._meta.db_table} WHERE cluster_id = %s AND name = %s", [cluster.pk, "cfg"]
    )
    logged = _raw(
        f"SELECT object FROM {WatchEvent._meta.db_table} WHERE cluster_id = %s AND revision = %s",
        [cluster.pk, start + 1],
    )
    for text in (stored, logged):
        assert jsonutil.PACKED in text and big not in text
        assert len(text) < len(big) / 3
    small = _raw(
        f"SELECT body FROM {StoredObject._meta.db_table} WHERE cluster_id = %s AND name = %s", [cluster.pk, "small"]
    )
    assert jsonutil.PACKED not in small and '"x"' in small

    assert etcd.get(cluster.pk, KEY)["data"]["v"] == big
    bodies, _ = etcd.list_(cluster.pk, "", "ConfigMap", "default")
    assert {b["metadata"]["name"]: b["data"]["v"] for b in bodies}["cfg"] == big
    assert etcd.events_after(cluster.pk, start)[0].object["data"]["v"] == big
    assert StoredObject.objects.get(cluster=cluster, name="cfg").body["data"]["v"] == big
    informers = Informers(cluster)
    informers.sync()
    assert informers.lister("", "ConfigMap").get("default", "cfg")["data"]["v"] == big

    rv = int(etcd.get(cluster.pk, KEY)["metadata"]["resourceVersion"])
    etcd.update(cluster.pk, KEY, _body(big + "!"), rv)
    informers.sync()
    assert informers.lister("", "ConfigMap").get("default", "cfg")["data"]["v"] == big + "!"
    assert etcd.delete(cluster.pk, KEY, None)["data"]["v"] == big + "!"
    assert etcd.events_after(cluster.pk, start)[-1].object["data"]["v"] == big + "!"


def test_a_client_key_that_looks_packed_is_only_data(cluster) -> None:
    """Only a whole one-key body is a packed one: the same key inside an object is left alone."""
    from cluster import jsonutil

    body = _body("x")
    body["data"] = {jsonutil.PACKED: "bm90IHpsaWI="}
    etcd.create(cluster.pk, KEY, body)
    assert etcd.get(cluster.pk, KEY)["data"] == {jsonutil.PACKED: "bm90IHpsaWI="}
    assert jsonutil.unpack({jsonutil.PACKED: "x", "metadata": {}}) == {jsonutil.PACKED: "x", "metadata": {}}


def _annotated(decision: str, version: str) -> dict:
    body = _body(version)
    body["metadata"]["annotations"] = {"kubeglass.io/filter-result": decision, "note": "small"}
    return body


def test_big_annotations_are_packed_one_by_one_and_compressed_once(cluster, monkeypatch) -> None:
    """A big annotation value is packed in its place, once per process, and read back as written."""
    from cluster import jsonutil
    from cluster.controlplane.informer import Informers

    decision = '{"' + '":"passed","'.join(f"node-{i}" for i in range(1500)) + '":"passed"}'
    compressed: list[int] = []
    real = jsonutil._deflate
    monkeypatch.setattr(jsonutil, "_deflate", lambda data: compressed.append(len(data)) or real(data))
    start = etcd.current_revision(cluster.pk)
    etcd.create(cluster.pk, KEY, _annotated(decision, "1"))
    rv = int(etcd.get(cluster.pk, KEY)["metadata"]["resourceVersion"])
    etcd.update(cluster.pk, KEY, _annotated(decision, "2"), rv)
    # The decision was compressed once, though it was written twice, in two rows each.
    assert compressed == [len(decision)]

    stored = _raw(
        f"SELECT body FROM {StoredObject._meta.db_table} WHERE cluster_id = %s AND name = %s", [cluster.pk, "cfg"]
    )
    assert decision not in stored and jsonutil.PACKED in stored and '"small"' in stored

    # Read back by a process that never packed it: the memo is empty, so it decompresses.
    monkeypatch.setattr(jsonutil, "_packed", {})
    monkeypatch.setattr(jsonutil, "_unpacked", {})
    want = {"kubeglass.io/filter-result": decision, "note": "small"}
    assert etcd.get(cluster.pk, KEY)["metadata"]["annotations"] == want
    assert [e.object["metadata"]["annotations"] for e in etcd.events_after(cluster.pk, start)] == [want, want]
    assert StoredObject.objects.get(cluster=cluster, name="cfg").body["metadata"]["annotations"] == want
    informers = Informers(cluster)
    informers.sync()
    assert informers.lister("", "ConfigMap").get("default", "cfg")["metadata"]["annotations"] == want


def test_an_open_batch_serves_its_own_writes_to_informers_without_the_log(cluster) -> None:
    """Inside a group commit the informers take the batch's writes from memory; the rows wait for the commit."""
    from cluster.controlplane.controller import Context
    from cluster.controlplane.informer import Informers

    informers = Informers(cluster)
    informers.sync()
    batch = etcd.GroupCommit(cluster.pk)
    batch.begin()
    try:
        etcd.create(cluster.pk, KEY, _body("1"))
        event = etcd.Key("", "Event", "default", "cfg.1")
        etcd.create(cluster.pk, event, {"metadata": {"name": "cfg.1", "namespace": "default"}, "reason": "Made"})
        assert informers.sync(force=True) == 1
        assert informers.lister("", "ConfigMap").get("default", "cfg")["data"] == {"v": "1"}
        # Nothing was written to the log yet: the informer did not read it.
        assert len(batch.events) == 2 and not WatchEvent.objects.filter(cluster=cluster, name="cfg").exists()
        # Events are not kept for informers (they skip them).
        assert [e.kind for e in batch.tail] == ["ConfigMap"]
        assert informers.cursor == etcd.current_revision(cluster.pk)
        # A loop's write result is shared with the cache until the loop asks for its own copy.
        ctx = Context(cluster, informers)
        current = etcd.get(cluster.pk, KEY)
        written = ctx.update("test", {**current, "apiVersion": "v1", "kind": "ConfigMap", "data": {"v": "2"}})
        informers.sync(force=True)
        cached = informers.lister("", "ConfigMap").get("default", "cfg")
        assert written.shared is cached and cached["data"] == {"v": "2"}
        written.object["data"]["v"] = "scribbled"
        assert written.object is not cached and cached["data"] == {"v": "2"}
    finally:
        batch.commit()
    assert WatchEvent.objects.filter(cluster=cluster, name="cfg").count() == 2
    # A reader behind the batch's start falls back to the log and sees the same.
    late = Informers(cluster)
    late.initial_list()
    late.cursor = 0
    late.sync(force=True)
    assert late.lister("", "ConfigMap").get("default", "cfg")["data"] == {"v": "2"}


def test_the_packing_memo_keeps_to_its_budget_and_still_round_trips(monkeypatch) -> None:
    """Past its budget the memo forgets its oldest values; packing and unpacking stay exact."""
    from cluster import jsonutil

    monkeypatch.setattr(jsonutil, "_packed", {})
    monkeypatch.setattr(jsonutil, "_unpacked", {})
    monkeypatch.setattr(jsonutil, "_held", 0)
    monkeypatch.setattr(jsonutil, "MEMO_CHARS", 60_000)
    values = [f"{i}:" + "x" * 9000 + str(i) for i in range(20)]
    packed = [jsonutil._pack_value(v)[jsonutil.PACKED] for v in values]
    assert 0 < len(jsonutil._packed) == len(jsonutil._unpacked) < 20
    assert jsonutil._held <= 60_000
    assert values[0] not in jsonutil._packed and values[-1] in jsonutil._packed
    assert [jsonutil._unpack_value(p) for p in packed] == values


def test_the_stores_own_cursor_reports_errors_as_django_does(cluster) -> None:
    """Errors from the driver's cursor come out as django.db exceptions and mark the connection,
    so a broken connection is replaced as it would be through Django's own cursor."""
    from django.db import DatabaseError, connection, transaction

    cursor, _sql = etcd.raw_cursor()
    connection.errors_occurred = False
    with pytest.raises(DatabaseError) as err, transaction.atomic():
        cursor.execute("SELECT no_such_column FROM no_such_table WHERE 1 = 1", ())
    assert type(err.value).__module__ == "django.db.utils"
    assert connection.errors_occurred


def test_packed_text_is_plain_zlib_both_ways() -> None:
    """Whatever compresses the packed text, any zlib reader inflates it, and text zlib itself
    packed (an older store, or a process without ISA-L) reads back."""
    import base64
    import zlib

    from cluster import jsonutil

    text = '{"metadata":{"name":"p"},"spec":' + '{"n":"' + "worker-1,passed," * 600 + '"}}'
    packed = orjson.loads(jsonutil.pack(text))[jsonutil.PACKED]
    assert zlib.decompress(base64.b64decode(packed)).decode() == text
    by_zlib = {jsonutil.PACKED: base64.b64encode(zlib.compress(text.encode(), 1)).decode()}
    assert jsonutil.unpack(by_zlib) == orjson.loads(text)
