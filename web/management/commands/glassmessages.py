"""Refresh web/locale: every translatable string of the glass and every narration template under cluster/.

``makemessages`` would put the strings it finds under ``cluster/`` into ``cluster/locale``
(a LOCALE_PATHS entry); the glass keeps one catalogue, so this points it at ``web/locale`` only.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.test.utils import override_settings

IGNORE = [".venv", "tests", "bench", "docs", "test-artifacts", "static/vendor", "fixtures", "node_modules"]


class Command(BaseCommand):
    help = "Update web/locale/<lang>/LC_MESSAGES/django.po (zh_Hans by default) and compile it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--locale", "-l", action="append", default=None)
        parser.add_argument("--no-compile", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        locales = opts["locale"] or ["zh_Hans"]
        web_locale = settings.BASE_DIR / "web" / "locale"
        web_locale.mkdir(exist_ok=True)
        with override_settings(LOCALE_PATHS=[web_locale]):
            call_command(
                "makemessages", locale=locales, ignore_patterns=IGNORE, no_obsolete=True, verbosity=opts["verbosity"]
            )
            if not opts["no_compile"]:
                call_command("compilemessages", locale=locales, ignore_patterns=IGNORE, verbosity=opts["verbosity"])
