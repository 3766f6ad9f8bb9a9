from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from web.loginlink import make_link


class Command(BaseCommand):
    help = "Print a one-time sign-in URL for a user (created if missing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--base", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **opts: Any) -> None:
        self.stdout.write(make_link(opts["username"], opts["base"]))
