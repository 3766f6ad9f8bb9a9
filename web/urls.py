"""URL routes: the per-cluster Kubernetes API under /k8s/<cluster>/, health at the root, and the glass."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path

from cluster.api.http import k8s_view
from web import clockviews, logviews, netviews, views


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")


urlpatterns = [
    path("healthz", health),
    path("livez", health),
    path("readyz", health),
    path("", views.home, name="home"),
    path("accounts/link/<str:token>/", views.login_link, name="login-link"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("clusters/<slug:cluster_name>/clock", clockviews.clock_view, name="clock"),
    path("clusters/<slug:cluster_name>/log", logviews.log_view, name="log"),
    path("clusters/<slug:cluster_name>/net/walk", netviews.packet_walk, name="net-walk"),
    path("clusters/<slug:cluster_name>/nodes/<str:node>/net/<str:table>", netviews.node_table, name="net-table"),
    path("clusters/", include("web.glassurls")),
    re_path(r"^k8s/(?P<cluster_name>[-a-z0-9]+)/?$", k8s_view),
    re_path(r"^k8s/(?P<cluster_name>[-a-z0-9]+)/(?P<rest>.*)$", k8s_view),
]
