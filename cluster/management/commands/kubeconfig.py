from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cluster.api.authz import can_access
from cluster.kubeconfig import kubeconfig
from cluster.models import Cluster


class Command(BaseCommand):
    help = "Print a kubeconfig for a cluster, with a bearer token for a user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--server",
            default="https://127.0.0.1:8443",
            help="the HTTPS address of `manage.py serve` (kubectl sends tokens only over TLS)",
        )
        parser.add_argument("--user", default=None, help="username (default: the cluster's owner)")

    def handle(self, *args: Any, **opts: Any) -> None:
        cluster = Cluster.objects.filter(name=opts["name"]).select_related("owner").first()
        if cluster is None:
            raise CommandError(f'cluster "{opts["name"]}" not found')
        user = cluster.owner
        if opts["user"]:
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f'user "{opts["user"]}" not found')
            if not can_access(user, cluster):
                self.stderr.write(
                    f'warning: user "{user}" may not access cluster "{cluster.name}"; requests will get 403'
                )
        self.stdout.write(kubeconfig(cluster, user, opts["server"]), ending="")
