"""Kubeconfig files that point a real kubectl at one simulated cluster."""

from __future__ import annotations

import base64
from typing import Any

import yaml
from django.contrib.auth.models import AbstractBaseUser

from cluster.models import ApiToken, Cluster


def token_for(user: AbstractBaseUser, description: str = "kubeconfig") -> str:
    token = ApiToken.objects.filter(user=user, description=description).first()
    if token is None:
        token = ApiToken.objects.create(user=user, description=description)
    return token.key


def kubeconfig(cluster: Cluster, user: AbstractBaseUser, server: str) -> str:
    name = cluster.name
    username = user.get_username()
    cluster_entry: dict[str, Any] = {"server": f"{server.rstrip('/')}/k8s/{name}"}
    if server.startswith("https://"):
        from cluster import pki

        cluster_entry["certificate-authority-data"] = base64.b64encode(pki.ensure().ca_cert.read_bytes()).decode()
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster_entry}],
        "users": [{"name": f"{username}@{name}", "user": {"token": token_for(user)}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": f"{username}@{name}", "namespace": "default"}}
        ],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)
