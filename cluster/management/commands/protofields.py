"""Regenerate cluster/api/protobuf/fields.json from upstream's generated.proto and Go types.

kubectl sends some request bodies as Kubernetes protobuf. The wire format has field
numbers, not names; this table, read from k8s.io/api and k8s.io/apimachinery at a
pinned tag, maps them back. Go's protobuf encoder writes a non-pointer bool or number even
when it is zero, and its JSON encoder leaves such a field out (``omitempty``); the .proto
cannot tell those from pointers, so the Go struct tags are read too, for the ``omitzero``
list. Run it by hand to move to a new release.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

API_FILES = ("core", "apps", "discovery", "networking", "storage", "coordination", "policy", "autoscaling")
MACHINERY_FILES = ("pkg/apis/meta/v1", "pkg/api/resource", "pkg/runtime", "pkg/runtime/schema", "pkg/util/intstr")
FIELD = re.compile(r"^\s*(optional|repeated)\s+(\S+)\s+(\w+)\s*=\s*(\d+)")
MAP = re.compile(r"^\s*map<\s*(\S+)\s*,\s*(\S+)\s*>\s+(\w+)\s*=\s*(\d+)")
MESSAGE = re.compile(r"^\s*message\s+(\w+)\s*\{")
PACKAGE = re.compile(r"^package\s+([\w.]+);", re.M)
GO_STRUCT = re.compile(r"^type\s+(\w+)\s+struct\s*\{")
GO_FIELD = re.compile(r'^\s*\w+\s+(\S+)\s+`[^`]*json:"[^",]*,[^"]*omitempty[^"]*"[^`]*protobuf:"[a-z0-9]+,(\d+),')
SCALARS = {
    "string",
    "int32",
    "int64",
    "bool",
    "bytes",
    "double",
    "float",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "fixed32",
    "fixed64",
}


def _qualify(type_name: str, package: str) -> str:
    if type_name in SCALARS:
        return type_name
    if type_name.startswith("."):
        return type_name[1:]
    return f"{package}.{type_name}"


def parse(text: str, table: dict[str, dict[str, Any]]) -> None:
    package = ""
    stack: list[str] = []
    for line in text.splitlines():
        if m := PACKAGE.match(line):
            package = m.group(1)
        elif m := MESSAGE.match(line):
            stack.append(m.group(1))
            table.setdefault(f"{package}.{'.'.join(stack)}", {})
        elif line.strip() == "}" and stack:
            stack.pop()
        elif stack and (m := MAP.match(line)):
            table[f"{package}.{'.'.join(stack)}"][m.group(4)] = [
                m.group(3),
                "map",
                _qualify(m.group(1), package),
                _qualify(m.group(2), package),
            ]
        elif stack and (m := FIELD.match(line)):
            table[f"{package}.{'.'.join(stack)}"][m.group(4)] = [m.group(3), m.group(1), _qualify(m.group(2), package)]


def parse_go(text: str, package: str, omitzero: dict[str, list[int]]) -> None:
    """Field numbers of non-pointer, ``omitempty`` scalars (a bool or number Go's JSON drops at zero)."""
    struct = ""
    for line in text.splitlines():
        if m := GO_STRUCT.match(line):
            struct = m.group(1)
        elif line.startswith("}"):
            struct = ""
        elif struct and (m := GO_FIELD.match(line)):
            go_type = m.group(1)
            if not go_type.startswith(("*", "[]", "map[")):
                omitzero.setdefault(f"{package}.{struct}", []).append(int(m.group(2)))


class Command(BaseCommand):
    help = "Regenerate the protobuf field table from git checkouts of k8s.io/api and k8s.io/apimachinery."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("api_git_dir")
        parser.add_argument("apimachinery_git_dir")
        parser.add_argument("--tag", default="v0.32.9")

    def handle(self, *args: Any, **opts: Any) -> None:
        table: dict[str, dict[str, Any]] = {}
        omitzero: dict[str, list[int]] = {}
        sources = [(opts["api_git_dir"], f"{g}/v1/generated.proto") for g in API_FILES]
        sources += [(opts["apimachinery_git_dir"], f"{p}/generated.proto") for p in MACHINERY_FILES]
        tag = opts["tag"]
        for git_dir, path in sources:
            text = _git(git_dir, "show", f"{tag}:{path}")
            parse(text, table)
            package = PACKAGE.search(text)
            if package is None:
                continue
            folder = path.rsplit("/", 1)[0]
            for go_file in _git(git_dir, "ls-tree", "--name-only", f"{tag}:{folder}/").splitlines():
                if go_file.endswith(".go") and not go_file.endswith("_test.go") and "generated" not in go_file:
                    parse_go(_git(git_dir, "show", f"{tag}:{folder}/{go_file}"), package.group(1), omitzero)
        out = Path(__file__).resolve().parents[2] / "api" / "protobuf" / "fields.json"
        doc = {
            "tag": tag,
            "messages": table,
            "omitzero": {k: sorted(v) for k, v in omitzero.items() if k in table},
        }
        out.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")))
        self.stdout.write(f"wrote {len(table)} messages to {out}")


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], capture_output=True, text=True, check=True).stdout
