"""Routes of the glass under ``/clusters/``: the cluster list's forms, the dashboard and its partials."""

from __future__ import annotations

from django.urls import path

from web import glassviews

urlpatterns = [
    path("create", glassviews.cluster_create, name="cluster-create"),
    path("<slug:cluster_name>/", glassviews.dashboard, name="dashboard"),
    path("<slug:cluster_name>/delete", glassviews.cluster_delete, name="cluster-delete"),
    path("<slug:cluster_name>/feed", glassviews.feed_view, name="feed"),
    path("<slug:cluster_name>/inspect", glassviews.inspect, name="inspect"),
    path("<slug:cluster_name>/decision", glassviews.decision_view, name="decision"),
    path("<slug:cluster_name>/apply", glassviews.apply_view, name="apply"),
    path("<slug:cluster_name>/command", glassviews.command_view, name="command"),
    path("<slug:cluster_name>/action", glassviews.quick_action, name="quick-action"),
    path("<slug:cluster_name>/kubeconfig", glassviews.kubeconfig_view, name="kubeconfig"),
]
