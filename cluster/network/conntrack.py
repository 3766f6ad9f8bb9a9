"""Connection tracking: the entries a walk creates on each node and the NAT they undo.

The first packet of a flow creates an entry with its original tuple and the tuple
a reply will carry (after DNAT/SNAT).  A reply packet that matches the reply tuple
is rewritten back: the destination at PREROUTING (undoing SNAT, so routing sees
the real client) and the source at POSTROUTING (undoing DNAT, so the client sees
the address it connected to).  Text is in ``conntrack -L`` format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_PROTO_NUM = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1}
_STATES = {
    ("tcp", "new"): ("SYN_SENT", 120),
    ("tcp", "replied"): ("SYN_RECV", 60),
    ("sctp", "new"): ("COOKIE_WAIT", 3),
    ("sctp", "replied"): ("COOKIE_ECHOED", 3),
}

FourTuple = tuple[str, str, int | None, int | None]
"""(src, dst, sport, dport)."""


@dataclass(slots=True)
class Entry:
    node: str
    proto: str
    orig: FourTuple
    reply: FourTuple
    replied: bool = False

    @property
    def dnat(self) -> bool:
        return self.reply[0] != self.orig[1] or self.reply[2] != self.orig[3]

    @property
    def snat(self) -> bool:
        return self.reply[1] != self.orig[0] or self.reply[3] != self.orig[2]

    def text(self) -> str:
        """The entry as ``conntrack -L`` prints it."""
        phase = "replied" if self.replied else "new"
        state, timeout = _STATES.get((self.proto, phase), ("", 30 if not self.replied else 120))
        parts = [f"{self.proto:<8} {_PROTO_NUM.get(self.proto, 0)} {timeout}"]
        if state:
            parts.append(state)
        parts.append(_tuple_text(self.orig))
        if not self.replied:
            parts.append("[UNREPLIED]")
        parts.append(_tuple_text(self.reply))
        parts.append("mark=0 use=1")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "proto": self.proto,
            "orig": _tuple_dict(self.orig),
            "reply": _tuple_dict(self.reply),
            "nat": [n for n, on in (("dnat", self.dnat), ("snat", self.snat)) if on],
            "text": self.text(),
        }


def _tuple_text(t: FourTuple) -> str:
    out = f"src={t[0]} dst={t[1]}"
    if t[2] is not None:
        out += f" sport={t[2]} dport={t[3]}"
    return out


def _tuple_dict(t: FourTuple) -> dict[str, Any]:
    return {"src": t[0], "dst": t[1], "sport": t[2], "dport": t[3]}


class Table:
    """All nodes' conntrack tables for one walk (request and its reply)."""

    def __init__(self) -> None:
        self._orig: dict[tuple[str, str, FourTuple], Entry] = {}
        self._reply: dict[tuple[str, str, FourTuple], Entry] = {}
        self.entries: list[Entry] = []

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)
        self._orig[(entry.node, entry.proto, entry.orig)] = entry
        self._reply[(entry.node, entry.proto, entry.reply)] = entry

    def find(self, node: str, proto: str, t: FourTuple) -> tuple[Entry, str] | None:
        """The entry ``t`` belongs to on ``node`` and its direction (``"original"`` or ``"reply"``)."""
        hit = self._orig.get((node, proto, t))
        if hit is not None:
            return hit, "original"
        hit = self._reply.get((node, proto, t))
        if hit is not None:
            return hit, "reply"
        return None
