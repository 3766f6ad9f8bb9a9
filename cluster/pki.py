"""A small PKI for the API server's HTTPS endpoint: a cluster CA and a serving certificate.

kubectl (client-go) never sends a bearer token over plain HTTP, so the Kubernetes
API is also served over TLS, as kubeadm's apiserver is, with a CA that kubeconfigs carry.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings


@dataclass(frozen=True)
class Bundle:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def pki_dir() -> Path:
    return Path(settings.KUBEGLASS["PKI_DIR"])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def ensure() -> Bundle:
    """Create the CA and serving certificate once; later calls reuse them."""
    root = pki_dir()
    bundle = Bundle(root / "ca.crt", root / "apiserver.crt", root / "apiserver.key")
    if bundle.ca_cert.exists() and bundle.server_cert.exists() and bundle.server_key.exists():
        return bundle
    root.mkdir(parents=True, exist_ok=True)
    # Two processes (the server and `manage.py kubeconfig`) may start at once: one creates, the other waits.
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (bundle.ca_cert.exists() and bundle.server_cert.exists() and bundle.server_key.exists()):
            _create(root, bundle)
    return bundle


def _create(root: Path, bundle: Bundle) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubeglass-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost"), x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default")]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(root / "ca.key", ca_key)
    _write_key(bundle.server_key, key)
    bundle.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    bundle.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
