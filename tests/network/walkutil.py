"""Helpers for reading walk results in tests."""

from __future__ import annotations

import base64
import hashlib
from typing import Any


def path(result: dict[str, Any], part: str = "hops") -> list[tuple[str, str]]:
    return [(h["graph_node"], h["action"]) for h in result[part]]


def hop(result: dict[str, Any], action: str, part: str = "hops", nth: int = 0) -> dict[str, Any]:
    found = [h for h in result[part] if h["action"] == action]
    assert len(found) > nth, f"no {action} hop #{nth} in {path(result, part)}"
    return found[nth]


def ip(h: dict[str, Any]) -> tuple[str, str]:
    return h["headers"]["ip"]["src"], h["headers"]["ip"]["dst"]


def eth(h: dict[str, Any]) -> tuple[str, str] | None:
    e = h["headers"]["eth"]
    return (e["src"], e["dst"]) if e else None


def devices_path(result: dict[str, Any], part: str) -> list[str]:
    """The devices (and links) a packet crossed, consecutive repeats collapsed."""
    out: list[str] = []
    for h in result[part]:
        g = h["graph_node"]
        if g.count("/") < (2 if g.startswith("node/") else 3 if g.startswith("pod/") else 1):
            continue  # a network namespace, not a device
        if not out or out[-1] != g:
            out.append(g)
    return out


def upstream_hash(text: str) -> str:
    """kube-proxy's chain hash, written out independently: base32(sha256(text))[:16]."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]
