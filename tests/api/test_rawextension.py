"""ControllerRevision data is served with sorted keys, whatever order the store kept."""

from __future__ import annotations

import json

from cluster.api import rawextension
from cluster.api.http import json_response


def test_revision_data_is_served_in_sorted_key_order() -> None:
    # As PostgreSQL's jsonb hands it back: shorter keys first.
    rev = {
        "kind": "ControllerRevision",
        "metadata": {"name": "agent-1"},
        "data": {"spec": {"template": {"spec": {"containers": []}, "metadata": {"labels": {"b": "1", "a": "2"}}}}},
        "revision": 1,
    }
    text = json_response(rev).content.decode()
    assert '"data":{"spec":{"template":{"metadata":{"labels":{"a":"2","b":"1"}},"spec":{"containers":[]}}}}' in text
    listed = rawextension.canonical(
        {"kind": "ControllerRevisionList", "items": [{k: v for k, v in rev.items() if k != "kind"}]}
    )
    assert list(listed["items"][0]["data"]["spec"]["template"]) == ["metadata", "spec"]
    assert "kind" not in listed["items"][0]
    # Other kinds are served as they are.
    cm = {"kind": "ConfigMap", "data": {"z": "1", "a": "2"}}
    assert list(json.loads(json_response(cm).content)["data"]) == ["z", "a"]
