"""The informers' cache: listing order and filters, as client-go's listers give them."""

from __future__ import annotations

import random
from typing import Any

from cluster.controlplane.informer import Lister, Store, object_key


def _obj(namespace: str | None, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"metadata": meta}


def test_list_is_in_namespace_then_name_order_with_or_without_a_namespace() -> None:
    """ "a-b/x" sorts before "a/x" as text; by (namespace, name) it comes after: both paths must agree."""
    names = ["web-0", "web-10", "web-2", "web.1", "w", "x-1", "a"]
    objs = [_obj(ns, n, {"app": n[0]}) for ns in ("a", "a-b", "a.b", "b") for n in names]
    random.Random(4).shuffle(objs)
    store = Store()
    for o in objs:
        store.put(object_key(o), o)
    lister = Lister(store)

    def key(o: dict[str, Any]) -> tuple[str, str]:
        return (o["metadata"].get("namespace", ""), o["metadata"]["name"])

    assert [key(o) for o in lister.list()] == sorted(key(o) for o in objs)
    for ns in ("a", "a-b", "a.b", "b", "c"):
        assert [key(o) for o in lister.list(ns)] == sorted(key(o) for o in objs if o["metadata"]["namespace"] == ns)
    web = {"matchLabels": {"app": "w"}}
    assert [o["metadata"]["name"] for o in lister.list("a", web)] == ["w", "web-0", "web-10", "web-2", "web.1"]
    assert [key(o) for o in lister.list(None, web)][:2] == [("a", "w"), ("a", "web-0")]


def test_cluster_scoped_objects_are_in_no_namespace() -> None:
    store = Store()
    for o in (_obj(None, "node-b"), _obj(None, "node-a"), _obj("default", "p")):
        store.put(object_key(o), o)
    lister = Lister(store)
    assert [o["metadata"]["name"] for o in lister.list()] == ["node-a", "node-b", "p"]
    assert [o["metadata"]["name"] for o in lister.list("default")] == ["p"]
    assert lister.list("") == []
