from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cluster import clock, doorbell
from cluster.models import Cluster


class Command(BaseCommand):
    help = "Show or change a cluster's simulation clock: speed (0.25x-64x), pause, resume, fast-forward."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--speed", type=float)
        group.add_argument("--pause", action="store_true")
        group.add_argument("--resume", action="store_true")
        group.add_argument("--fast-forward", action="store_true", help="jump to the control plane's next timer")

    def handle(self, *args: Any, **opts: Any) -> None:
        cluster = Cluster.objects.filter(name=opts["name"]).first()
        if cluster is None:
            raise CommandError(f'cluster "{opts["name"]}" not found')
        try:
            if opts["speed"] is not None:
                clock.set_speed(cluster, opts["speed"])
            elif opts["pause"]:
                clock.pause(cluster)
            elif opts["resume"]:
                clock.resume(cluster)
            elif opts["fast_forward"]:
                clock.fast_forward(cluster)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        doorbell.ring(cluster.pk)
        self.stdout.write(json.dumps(clock.state(cluster)))
