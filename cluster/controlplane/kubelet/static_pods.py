"""Static pods: the control plane kubeadm writes to /etc/kubernetes/manifests, and their mirror pods.

On a control-plane node the kubelet runs etcd, kube-apiserver, kube-controller-manager
and kube-scheduler from files, not from the API server (seed 004 shows the manifests).
The API server only sees a *mirror pod* per static pod, which the kubelet creates in
``kube-system`` as ``<name>-<node>``, owned by the Node and annotated with the file's
hash and ``kubernetes.io/config.source: file``. Deleting a mirror pod does not stop the
static pod: the kubelet deletes the stale mirror and creates a new one.
Flags and probes follow kubeadm v1.32 (``cmd/kubeadm/app/phases/{controlplane,etcd}``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cluster.bootstrap import CONTROL_PLANE_IMAGES

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
MANIFEST_DIR = "/etc/kubernetes/manifests"
CONFIG_HASH = "kubernetes.io/config.hash"
CONFIG_MIRROR = "kubernetes.io/config.mirror"
CONFIG_SEEN = "kubernetes.io/config.seen"
CONFIG_SOURCE = "kubernetes.io/config.source"
PKI = "/etc/kubernetes/pki"


@dataclass(frozen=True)
class StaticPod:
    """One manifest file and the pod the kubelet builds from it."""

    file: str
    name: str  # the mirror pod's name, <component>-<node>
    pod: dict[str, Any]
    hash: str

    @property
    def key(self) -> str:
        return f"kube-system/{self.name}"


def _image(component: str) -> str:
    for image, _size in CONTROL_PLANE_IMAGES:
        if image.rsplit("/", 1)[-1].split(":", 1)[0] == component:
            return image
    raise KeyError(component)


def _http_probe(host: str, path: str, port: int, scheme: str, **extra: int) -> dict[str, Any]:
    probe: dict[str, Any] = {
        "failureThreshold": extra.get("failureThreshold", 8),
        "httpGet": {"host": host, "path": path, "port": port, "scheme": scheme},
        "periodSeconds": extra.get("periodSeconds", 10),
        "timeoutSeconds": 15,
    }
    if "initialDelaySeconds" in extra or "periodSeconds" not in extra:
        probe["initialDelaySeconds"] = extra.get("initialDelaySeconds", 10)
    return probe


def _host_path(name: str, path: str, kind: str = "DirectoryOrCreate") -> dict[str, Any]:
    return {"hostPath": {"path": path, "type": kind}, "name": name}


def _mount(name: str, path: str, read_only: bool = True) -> dict[str, Any]:
    mount: dict[str, Any] = {"mountPath": path, "name": name}
    if read_only:
        mount["readOnly"] = True
    return mount


_CA_VOLUMES = (
    ("ca-certs", "/etc/ssl/certs"),
    ("etc-ca-certificates", "/etc/ca-certificates"),
)
_SHARE_VOLUMES = (
    ("usr-local-share-ca-certificates", "/usr/local/share/ca-certificates"),
    ("usr-share-ca-certificates", "/usr/share/ca-certificates"),
)


def _component_pod(
    component: str,
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """kubeadm's ComponentPod: hostNetwork, system-node-critical, RuntimeDefault seccomp."""
    meta: dict[str, Any] = {"labels": {"component": component, "tier": "control-plane"}, "name": component}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**meta, "namespace": "kube-system"},
        "spec": {
            "containers": [{**container, "name": component, "imagePullPolicy": "IfNotPresent"}],
            "hostNetwork": True,
            "priority": 2000001000,
            "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": volumes,
        },
    }


def manifests(
    node: str, ip: str, service_cidr: str, pod_cidr: str, members: list[tuple[str, str]] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """(file name, pod) for the four control-plane components, as kubeadm init (or, for a later
    control-plane node, kubeadm join --control-plane with the etcd ``members`` before it) writes them."""
    members = members or [(node, ip)]
    initial = ["--initial-cluster=" + ",".join(f"{name}=https://{addr}:2380" for name, addr in members)]
    if len(members) > 1:
        initial.append("--initial-cluster-state=existing")
    etcd = _component_pod(
        "etcd",
        {
            "command": [
                "etcd",
                f"--advertise-client-urls=https://{ip}:2379",
                f"--cert-file={PKI}/etcd/server.crt",
                "--client-cert-auth=true",
                "--data-dir=/var/lib/etcd",
                "--experimental-initial-corrupt-check=true",
                "--experimental-watch-progress-notify-interval=5s",
                f"--initial-advertise-peer-urls=https://{ip}:2380",
                *initial,
                f"--key-file={PKI}/etcd/server.key",
                f"--listen-client-urls=https://127.0.0.1:2379,https://{ip}:2379",
                "--listen-metrics-urls=http://127.0.0.1:2381",
                f"--listen-peer-urls=https://{ip}:2380",
                f"--name={node}",
                f"--peer-cert-file={PKI}/etcd/peer.crt",
                "--peer-client-cert-auth=true",
                f"--peer-key-file={PKI}/etcd/peer.key",
                f"--peer-trusted-ca-file={PKI}/etcd/ca.crt",
                "--snapshot-count=10000",
                f"--trusted-ca-file={PKI}/etcd/ca.crt",
            ],
            "image": _image("etcd"),
            "livenessProbe": _http_probe("127.0.0.1", "/livez", 2381, "HTTP"),
            "readinessProbe": _http_probe("127.0.0.1", "/readyz", 2381, "HTTP", failureThreshold=3, periodSeconds=1),
            "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
            "startupProbe": _http_probe("127.0.0.1", "/readyz", 2381, "HTTP", failureThreshold=24),
            "volumeMounts": [_mount("etcd-data", "/var/lib/etcd", False), _mount("etcd-certs", f"{PKI}/etcd", False)],
        },
        [_host_path("etcd-certs", f"{PKI}/etcd"), _host_path("etcd-data", "/var/lib/etcd")],
        {"kubeadm.kubernetes.io/etcd.advertise-client-urls": f"https://{ip}:2379"},
    )
    apiserver = _component_pod(
        "kube-apiserver",
        {
            "command": [
                "kube-apiserver",
                f"--advertise-address={ip}",
                "--allow-privileged=true",
                "--authorization-mode=Node,RBAC",
                f"--client-ca-file={PKI}/ca.crt",
                "--enable-admission-plugins=NodeRestriction",
                "--enable-bootstrap-token-auth=true",
                f"--etcd-cafile={PKI}/etcd/ca.crt",
                f"--etcd-certfile={PKI}/apiserver-etcd-client.crt",
                f"--etcd-keyfile={PKI}/apiserver-etcd-client.key",
                "--etcd-servers=https://127.0.0.1:2379",
                f"--kubelet-client-certificate={PKI}/apiserver-kubelet-client.crt",
                f"--kubelet-client-key={PKI}/apiserver-kubelet-client.key",
                "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
                f"--proxy-client-cert-file={PKI}/front-proxy-client.crt",
                f"--proxy-client-key-file={PKI}/front-proxy-client.key",
                "--requestheader-allowed-names=front-proxy-client",
                f"--requestheader-client-ca-file={PKI}/front-proxy-ca.crt",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-username-headers=X-Remote-User",
                "--secure-port=6443",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={PKI}/sa.pub",
                f"--service-account-signing-key-file={PKI}/sa.key",
                f"--service-cluster-ip-range={service_cidr}",
                f"--tls-cert-file={PKI}/apiserver.crt",
                f"--tls-private-key-file={PKI}/apiserver.key",
            ],
            "image": _image("kube-apiserver"),
            "livenessProbe": _http_probe(ip, "/livez", 6443, "HTTPS"),
            "readinessProbe": _http_probe(ip, "/readyz", 6443, "HTTPS", failureThreshold=3, periodSeconds=1),
            "resources": {"requests": {"cpu": "250m"}},
            "startupProbe": _http_probe(ip, "/livez", 6443, "HTTPS", failureThreshold=24),
            "volumeMounts": [
                _mount("ca-certs", "/etc/ssl/certs"),
                _mount("etc-ca-certificates", "/etc/ca-certificates"),
                _mount("k8s-certs", PKI),
                _mount("usr-local-share-ca-certificates", "/usr/local/share/ca-certificates"),
                _mount("usr-share-ca-certificates", "/usr/share/ca-certificates"),
            ],
        },
        [
            *(_host_path(n, p) for n, p in _CA_VOLUMES),
            _host_path("k8s-certs", PKI),
            *(_host_path(n, p) for n, p in _SHARE_VOLUMES),
        ],
        {"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": f"{ip}:6443"},
    )
    kcm_conf = "/etc/kubernetes/controller-manager.conf"
    controller_manager = _component_pod(
        "kube-controller-manager",
        {
            "command": [
                "kube-controller-manager",
                "--allocate-node-cidrs=true",
                f"--authentication-kubeconfig={kcm_conf}",
                f"--authorization-kubeconfig={kcm_conf}",
                "--bind-address=127.0.0.1",
                f"--client-ca-file={PKI}/ca.crt",
                f"--cluster-cidr={pod_cidr}",
                "--cluster-name=kubernetes",
                f"--cluster-signing-cert-file={PKI}/ca.crt",
                f"--cluster-signing-key-file={PKI}/ca.key",
                "--controllers=*,bootstrapsigner,tokencleaner",
                f"--kubeconfig={kcm_conf}",
                "--leader-elect=true",
                f"--requestheader-client-ca-file={PKI}/front-proxy-ca.crt",
                f"--root-ca-file={PKI}/ca.crt",
                f"--service-account-private-key-file={PKI}/sa.key",
                f"--service-cluster-ip-range={service_cidr}",
                "--use-service-account-credentials=true",
            ],
            "image": _image("kube-controller-manager"),
            "livenessProbe": _http_probe("127.0.0.1", "/healthz", 10257, "HTTPS"),
            "resources": {"requests": {"cpu": "200m"}},
            "startupProbe": _http_probe("127.0.0.1", "/healthz", 10257, "HTTPS", failureThreshold=24),
            "volumeMounts": [
                _mount("ca-certs", "/etc/ssl/certs"),
                _mount("etc-ca-certificates", "/etc/ca-certificates"),
                _mount("flexvolume-dir", "/usr/libexec/kubernetes/kubelet-plugins/volume/exec", False),
                _mount("k8s-certs", PKI),
                _mount("kubeconfig", kcm_conf),
                _mount("usr-local-share-ca-certificates", "/usr/local/share/ca-certificates"),
                _mount("usr-share-ca-certificates", "/usr/share/ca-certificates"),
            ],
        },
        [
            *(_host_path(n, p) for n, p in _CA_VOLUMES),
            _host_path("flexvolume-dir", "/usr/libexec/kubernetes/kubelet-plugins/volume/exec"),
            _host_path("k8s-certs", PKI),
            _host_path("kubeconfig", kcm_conf, "FileOrCreate"),
            *(_host_path(n, p) for n, p in _SHARE_VOLUMES),
        ],
    )
    sched_conf = "/etc/kubernetes/scheduler.conf"
    scheduler = _component_pod(
        "kube-scheduler",
        {
            "command": [
                "kube-scheduler",
                f"--authentication-kubeconfig={sched_conf}",
                f"--authorization-kubeconfig={sched_conf}",
                "--bind-address=127.0.0.1",
                f"--kubeconfig={sched_conf}",
                "--leader-elect=true",
            ],
            "image": _image("kube-scheduler"),
            "livenessProbe": _http_probe("127.0.0.1", "/healthz", 10259, "HTTPS"),
            "resources": {"requests": {"cpu": "100m"}},
            "startupProbe": _http_probe("127.0.0.1", "/healthz", 10259, "HTTPS", failureThreshold=24),
            "volumeMounts": [_mount("kubeconfig", sched_conf)],
        },
        [_host_path("kubeconfig", sched_conf, "FileOrCreate")],
    )
    return [
        ("etcd.yaml", etcd),
        ("kube-apiserver.yaml", apiserver),
        ("kube-controller-manager.yaml", controller_manager),
        ("kube-scheduler.yaml", scheduler),
    ]


def config_hash(pod: dict[str, Any]) -> str:
    """The kubelet's hash of a static pod, which is also the static pod's UID."""
    return hashlib.md5(json.dumps(pod, sort_keys=True).encode(), usedforsecurity=False).hexdigest()


def static_pods(
    node: str, ip: str, service_cidr: str, pod_cidr: str, members: list[tuple[str, str]] | None = None
) -> list[StaticPod]:
    """The static pods of a control-plane node, as the kubelet reads them from its manifest directory."""
    out: list[StaticPod] = []
    for file, manifest in manifests(node, ip, service_cidr, pod_cidr, members):
        pod = json.loads(json.dumps(manifest))
        name = f"{pod['metadata']['name']}-{node}"
        pod["metadata"]["name"] = name
        spec = pod["spec"]
        spec["nodeName"] = node
        # The kubelet's defaults for pods from files: every NoExecute taint is tolerated.
        spec["tolerations"] = [{"effect": "NoExecute", "operator": "Exists"}]
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("enableServiceLinks", True)
        digest = config_hash({"file": f"{MANIFEST_DIR}/{file}", "pod": pod})
        pod["metadata"]["uid"] = digest
        out.append(StaticPod(file, name, pod, digest))
    return out


def mirror_pod(static: StaticPod, node: dict[str, Any], seen: str) -> dict[str, Any]:
    """The mirror pod the kubelet creates for ``static`` in the API server."""
    body = json.loads(json.dumps(static.pod))
    meta = body["metadata"]
    meta.pop("uid", None)
    annotations = dict(meta.get("annotations") or {})
    annotations.update({CONFIG_HASH: static.hash, CONFIG_MIRROR: static.hash, CONFIG_SEEN: seen, CONFIG_SOURCE: "file"})
    meta["annotations"] = annotations
    meta["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "controller": True,
            "kind": "Node",
            "name": node["metadata"]["name"],
            "uid": node["metadata"].get("uid", ""),
        }
    ]
    return body


def is_control_plane(node: dict[str, Any]) -> bool:
    return CONTROL_PLANE_LABEL in ((node.get("metadata") or {}).get("labels") or {})


def is_mirror(pod: dict[str, Any] | None) -> bool:
    return bool(pod) and CONFIG_MIRROR in (((pod or {}).get("metadata") or {}).get("annotations") or {})
