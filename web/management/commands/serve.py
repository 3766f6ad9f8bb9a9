"""One process for everything (embedded mode): daphne serving HTTP and WebSockets, and the control loops.

daphne has no ASGI lifespan hook, so this builds ``daphne.server.Server`` itself and
schedules the control plane on the asyncio loop under daphne's Twisted reactor.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve Kubeglass (HTTP, WebSocket and the Kubernetes API) in one process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--tls-port", type=int, default=None, help="HTTPS port for kubectl (default: port + 443)")
        parser.add_argument("--login-link-for", default=None, help="print a one-time sign-in link for this user")
        parser.add_argument(
            "--control-plane",
            choices=("embedded", "workers", "none"),
            default=None,
            help="embedded: run every control loop in this process (the default without REDIS_URL); "
            "workers: leave them to `manage.py runworker` processes and knock on their channels "
            "(the default with REDIS_URL); none: API only",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from cluster import pki
        from web.asgi import application

        host, port = opts["host"], opts["port"]
        tls_port = opts["tls_port"] or port + 443
        # The dashboard's "copy kubeconfig" points kubectl at this port.
        os.environ["KUBEGLASS_TLS_PORT"] = str(tls_port)
        bundle = pki.ensure()
        endpoints = build_endpoint_description_strings(host=host, port=port)
        iface = host.replace(":", "\\:")
        endpoints.append(
            f"ssl:port={tls_port}:interface={iface}:privateKey={bundle.server_key}:certKey={bundle.server_cert}"
        )
        mode = opts["control_plane"] or ("workers" if os.environ.get("REDIS_URL") else "embedded")
        hooks: list[Callable[[], None]] = []
        if mode == "embedded":
            hooks.append(_start_control_plane)
        elif mode == "workers":
            hooks.append(_start_beat)

        def ready() -> None:
            for hook in hooks:
                hook()
            base = f"http://{host}:{port}"
            self.stdout.write(
                f"Kubeglass is serving on {base}/ (Kubernetes API also on https://{host}:{tls_port}/k8s/<cluster>)"
            )
            if opts["login_link_for"]:
                from web.loginlink import make_link

                self.stdout.write(f"Sign in as {opts['login_link_for']}: {make_link(opts['login_link_for'], base)}")
            self.stdout.flush()

        server = Server(
            application=application,
            endpoints=endpoints,
            signal_handlers=True,
            action_logger=None,
            http_timeout=None,
            ready_callable=ready,
            verbosity=0,
        )
        server.run()


def _start_control_plane() -> None:
    """Schedule the control loops on daphne's asyncio loop (not asyncio.get_event_loop(): another loop)."""
    from daphne.server import twisted_loop

    from cluster.controlplane import runtime

    twisted_loop.create_task(runtime.run_embedded())


def _start_beat() -> None:
    """Scale-out: the workers are other processes; knock on their channels so idle ones start."""
    from daphne.server import twisted_loop

    from cluster.controlplane import runtime

    twisted_loop.create_task(runtime.beat())
