"""Clock controls and the log read API, over HTTP and the management command."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from cluster.api import registry
from cluster.kubeconfig import token_for
from cluster.models import Cluster

CM = registry.by_kind("", "ConfigMap")


@pytest.fixture
def http(cluster, owner) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_for(owner)}")


def test_clock_speed_pause_resume_over_http(http: Client) -> None:
    state = json.loads(http.get("/clusters/lab/clock").content)
    assert state["speed"] == 1.0 and state["paused"] is False
    resp = http.post(
        "/clusters/lab/clock", json.dumps({"action": "speed", "speed": 64}), content_type="application/json"
    )
    assert json.loads(resp.content)["speed"] == 64.0
    paused = json.loads(http.post("/clusters/lab/clock", {"action": "pause"}).content)
    assert paused["paused"] is True
    frozen = json.loads(http.get("/clusters/lab/clock").content)["simSeconds"]
    assert json.loads(http.get("/clusters/lab/clock").content)["simSeconds"] == frozen
    assert json.loads(http.post("/clusters/lab/clock", {"action": "play"}).content)["paused"] is False
    bad = http.post("/clusters/lab/clock", {"action": "speed", "speed": "100"})
    assert bad.status_code == 400 and "between 0.25 and 64" in json.loads(bad.content)["message"]


def test_fast_forward_jumps_to_the_next_timer(http: Client, cluster) -> None:
    http.post("/clusters/lab/clock", {"action": "pause"})
    Cluster.objects.filter(pk=cluster.pk).update(next_timer=500.0)
    state = json.loads(http.post("/clusters/lab/clock", {"action": "fast-forward"}).content)
    assert state["simSeconds"] == 500.0


def test_session_clock_post_needs_csrf(cluster, owner) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.post("/clusters/lab/clock", {"action": "pause"}).status_code == 403


def test_clock_command(cluster, capsys) -> None:
    call_command("clock", "lab", "--speed", "4")
    assert json.loads(capsys.readouterr().out)["speed"] == 4.0
    call_command("clock", "lab", "--pause")
    assert json.loads(capsys.readouterr().out)["paused"] is True
    with pytest.raises(CommandError):
        call_command("clock", "lab", "--speed", "0.1")


def test_log_merges_events_and_trace_in_order(http: Client, api) -> None:
    start = api.cluster.__class__.objects.get(pk=api.cluster.pk).revision
    api.create(CM, "default", {"metadata": {"name": "one"}})
    page = json.loads(http.get("/clusters/lab/log", {"after": start}).content)
    kinds = [(e["type"], e.get("stage")) for e in page["entries"]]
    assert kinds == [
        ("TRACE", "authentication"),
        ("TRACE", "authorization"),
        ("TRACE", "mutating-admission"),
        ("TRACE", "validation"),
        ("TRACE", "persist"),
        ("ADDED", None),
    ]
    seqs = [e["seq"] for e in page["entries"]]
    assert seqs == sorted(seqs) and seqs[0] == start + 1
    assert page["entries"][-1]["object"]["metadata"]["name"] == "one"
    assert page["next"] == page["head"] == seqs[-1]
    small = json.loads(http.get("/clusters/lab/log", {"after": start, "limit": 2}).content)
    assert [e["seq"] for e in small["entries"]] == seqs[:2] and small["next"] == seqs[1]
