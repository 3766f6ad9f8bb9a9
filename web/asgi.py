"""ASGI entry point: HTTP through Django, WebSockets through Channels (origin-checked, session-authenticated)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "web.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from cluster.controlplane.runtime import channel_router  # noqa: E402
from web.consumers import GlassConsumer  # noqa: E402

websocket_urlpatterns: list = []
# The glass: one socket per dashboard, the cluster's log from the revision the page was rendered at.
websocket_urlpatterns += [path("ws/clusters/<slug:cluster_name>/", GlassConsumer.as_asgi())]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        # `manage.py runworker kube-scheduler ...`: each component is a consumer bound to its channel.
        "channel": channel_router(),
    }
)
