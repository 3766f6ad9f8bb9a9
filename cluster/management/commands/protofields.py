"""Regenerate cluster/api/protobuf/fields.json from upstream's generated.proto files.

kubectl sends some request bodies as Kubernetes protobuf. The wire format has field
numbers, not names; this table, read from k8s.io/api and k8s.io/apimachinery at a
pinned tag, maps them back. Run it by hand to move to a new release.
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
PACKAGE = re.compile(r"^package\s+([\w.]+);")
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


class Command(BaseCommand):
    help = "Regenerate the protobuf field table from git checkouts of k8s.io/api and k8s.io/apimachinery."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("api_git_dir")
        parser.add_argument("apimachinery_git_dir")
        parser.add_argument("--tag", default="v0.32.9")

    def handle(self, *args: Any, **opts: Any) -> None:
        table: dict[str, dict[str, Any]] = {}
        sources = [(opts["api_git_dir"], f"{g}/v1/generated.proto") for g in API_FILES]
        sources += [(opts["apimachinery_git_dir"], f"{p}/generated.proto") for p in MACHINERY_FILES]
        for git_dir, path in sources:
            text = subprocess.run(
                ["git", "--git-dir", git_dir, "show", f"{opts['tag']}:{path}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            parse(text, table)
        out = Path(__file__).resolve().parents[2] / "api" / "protobuf" / "fields.json"
        out.write_text(json.dumps({"tag": opts["tag"], "messages": table}, sort_keys=True, separators=(",", ":")))
        self.stdout.write(f"wrote {len(table)} messages to {out}")
