from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cluster.models import Cluster


class Command(BaseCommand):
    help = "Delete a simulated cluster and everything stored in it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **opts: Any) -> None:
        cluster = Cluster.objects.filter(name=opts["name"]).first()
        if cluster is None:
            raise CommandError(f'cluster "{opts["name"]}" not found')
        cluster.delete()
        self.stdout.write(f'cluster "{opts["name"]}" deleted')
