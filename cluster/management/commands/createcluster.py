from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cluster.bootstrap import BootstrapError, Topology, create_cluster, load_preset
from cluster.models import CNI, Cluster


class Command(BaseCommand):
    help = "Create a simulated cluster: a kubeadm-style control plane and N workers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--nodes", type=int, default=None, help="number of worker nodes (default 3)")
        parser.add_argument("--cni", choices=CNI.values, default=None)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--managed-control-plane", action="store_true", help="no control-plane Node, as on hosted Kubernetes"
        )
        parser.add_argument("--preset", default=None, help="a topology preset name from fixtures/presets, or a path")
        parser.add_argument(
            "--owner", default=None, help="owning username (created if missing; default: first superuser or 'admin')"
        )
        parser.add_argument(
            "--no-sim-delays",
            action="store_true",
            help="make simulated work (image pulls, container start) instant; Kubernetes' own timers still run",
        )
        parser.add_argument("--if-missing", action="store_true", help="do nothing when the cluster already exists")

    def handle(self, *args: Any, **opts: Any) -> None:
        name = opts["name"]
        if opts["if_missing"] and Cluster.objects.filter(name=name).exists():
            self.stdout.write(f'cluster "{name}" already exists')
            return
        topo = Topology()
        if opts["preset"]:
            try:
                topo, _ = load_preset(opts["preset"])
            except BootstrapError as exc:
                raise CommandError(str(exc)) from exc
        changes: dict[str, Any] = {}
        if opts["nodes"] is not None:
            changes["workers"] = opts["nodes"]
        if opts["cni"]:
            changes["cni"] = opts["cni"]
        if opts["seed"] is not None:
            changes["seed"] = opts["seed"]
        if opts["managed_control_plane"]:
            changes["managed_control_plane"] = True
        if opts["no_sim_delays"]:
            changes["sim_delays"] = False
        topo = Topology(**{**topo.__dict__, **changes})
        User = get_user_model()
        if opts["owner"]:
            owner, _ = User.objects.get_or_create(username=opts["owner"])
        else:
            owner = User.objects.filter(is_superuser=True).order_by("pk").first()
            if owner is None:
                owner, _ = User.objects.get_or_create(
                    username="admin", defaults={"is_staff": True, "is_superuser": True}
                )
        try:
            cluster = create_cluster(name, owner, topo)
        except BootstrapError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f'cluster "{cluster.name}" created: {topo.workers} worker(s), CNI {topo.cni}, seed {topo.seed}, owner {owner}'
            + ("" if topo.sim_delays else ", sim delays off")
        )
