"""Images: references, the simulated registry, pull outcomes and the kubelet's messages about them.

Upstream ``pkg/kubelet/images``: the pull policy decides whether to pull, pulls are
serialised per node (``serializeImagePulls: true``), a failed pull backs off per
(pod, image) from 10 s doubling to 300 s. containerd resolves references the way
docker's reference library does (``nginx`` is ``docker.io/library/nginx:latest``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

# The longest list of images a Node reports (upstream's nodeStatusMaxImages).
NODE_STATUS_MAX_IMAGES = 50

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


class InvalidImageName(ValueError):
    """A reference containerd cannot parse; the kubelet reports InvalidImageName."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed, normalised image reference."""

    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def normalized(self) -> str:
        """The name containerd reports for the image (a container status's ``image``)."""
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def tagged(self) -> str:
        """The reference to resolve: with ``:latest`` when neither tag nor digest is given."""
        if self.digest:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag or 'latest'}"


@lru_cache(maxsize=4096)
def parse_reference(image: str) -> ImageRef:
    """Split and normalise ``image`` as docker's ``ParseNormalizedNamed`` does.

    Remembered: every admission compares the pod's images with each name the Node lists.
    """
    if not image or image != image.strip():
        raise InvalidImageName(f'couldn\'t parse image name "{image}": invalid reference format')
    rest, _, digest_text = image.partition("@")
    digest = digest_text or None
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InvalidImageName(f'couldn\'t parse image name "{image}": invalid reference format')
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, remainder
    else:
        domain, path = "docker.io", rest
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = f"library/{path}"
    for part in path.split("/"):
        if not _COMPONENT.match(part):
            if part.lower() != part:
                raise InvalidImageName(
                    f'couldn\'t parse image name "{image}": invalid reference format: repository name must be lowercase'
                )
            raise InvalidImageName(f'couldn\'t parse image name "{image}": invalid reference format')
    if digest is not None and not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
        raise InvalidImageName(f'couldn\'t parse image name "{image}": invalid reference format')
    return ImageRef(domain, path, tag, digest)


@lru_cache(maxsize=1)
def _catalogue_from(base_dir: str) -> dict[str, dict[str, dict[str, Any]]]:
    data = yaml.safe_load((Path(base_dir) / "fixtures" / "registry.yaml").read_text()) or {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for domain, repos in (data.get("registries") or {}).items():
        out[str(domain)] = {str(name): dict(info or {}) for name, info in (repos or {}).items()}
    return out


def catalogue() -> dict[str, dict[str, dict[str, Any]]]:
    """fixtures/registry.yaml: registry host -> repository path -> facts."""
    return _catalogue_from(str(settings.BASE_DIR))


def lookup(ref: ImageRef) -> dict[str, Any] | None:
    """The catalogue entry for a reference's repository, or None when it does not exist."""
    return catalogue().get(ref.domain, {}).get(ref.path)


def image_info(image: str) -> dict[str, Any] | None:
    try:
        return lookup(parse_reference(image))
    except InvalidImageName:
        return None


def repo_digest(ref: ImageRef) -> str:
    """``sha256:…`` of the manifest a reference resolves to (stable per repository and tag)."""
    if ref.digest:
        return ref.digest
    return "sha256:" + hashlib.sha256(ref.tagged.encode()).hexdigest()


def image_id(ref: ImageRef) -> str:
    """A container status's ``imageID``: the repository at its digest."""
    return f"{ref.repository}@{repo_digest(ref)}"


@dataclass(frozen=True)
class PullOutcome:
    ok: bool
    size: int
    duration: float
    error: str = ""


def _fraction(*parts: object) -> float:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def pull(seed: int, ref: ImageRef) -> PullOutcome:
    """What containerd's PullImage returns for ``ref``: about 2 s per image, or a resolve error."""
    info = lookup(ref)
    if info is not None:
        duration = round(1.6 + 0.8 * _fraction(seed, "pull", ref.tagged), 3)
        return PullOutcome(True, int(info.get("size") or 0), duration)
    duration = round(0.3 + 0.5 * _fraction(seed, "resolve", ref.tagged), 3)
    return PullOutcome(False, 0, duration, pull_error(ref))


def pull_error(ref: ImageRef) -> str:
    """containerd 1.7's error for a reference that cannot be resolved, as the CRI returns it."""
    name = ref.tagged
    host, _, port = ref.domain.partition(":")
    if ref.domain not in catalogue() and (host == "localhost" or port):
        code = "Unknown"
        address = "127.0.0.1" if host == "localhost" else host
        detail = (
            f'failed to do request: Head "https://{ref.domain}/v2/{ref.path}/manifests/{ref.tag or "latest"}": '
            f"dial tcp {address}:{port or 443}: connect: connection refused"
        )
    elif ref.domain not in catalogue():
        code = "Unknown"
        reference = ref.digest if ref.digest else (ref.tag or "latest")
        detail = (
            f'failed to do request: Head "https://{ref.domain}/v2/{ref.path}/manifests/{reference}": '
            f"dial tcp: lookup {ref.domain}: no such host"
        )
    elif ref.domain == "docker.io":
        code = "Unknown"
        detail = (
            "pull access denied, repository does not exist or may require authorization: "
            "server message: insufficient_scope: authorization failed"
        )
    else:
        code = "NotFound"
        detail = f"{name}: not found"
    return (
        f'rpc error: code = {code} desc = failed to pull and unpack image "{name}": '
        f'failed to resolve reference "{name}": {detail}'
    )


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()`` of a duration truncated to milliseconds: 2.1s, 734ms, 5m0s."""
    ms = int(seconds * 1000 + 1e-6)
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rem = divmod(ms, 3_600_000)
    minutes, rem = divmod(rem, 60_000)
    secs, frac = divmod(rem, 1000)
    sec = str(secs) + ("." + f"{frac:03d}".rstrip("0") if frac else "")
    if hours:
        return f"{hours}h{minutes}m{sec}s"
    if minutes:
        return f"{minutes}m{sec}s"
    return f"{sec}s"


def node_has(node_images: list[dict[str, Any]] | None, ref: ImageRef) -> bool:
    """Whether a Node's ``status.images`` lists the reference (by tag, or by digest)."""
    wanted = {ref.normalized, ref.tagged}
    if not ref.tag and not ref.digest:
        wanted.add(f"{ref.repository}:latest")
    for entry in node_images or []:
        for name in entry.get("names") or []:
            if name in wanted:
                return True
            try:
                other = parse_reference(name)
            except InvalidImageName:
                continue
            if other.tagged in wanted or (
                ref.digest and other.repository == ref.repository and other.digest == ref.digest
            ):
                return True
    return False


def node_image_entry(ref: ImageRef, size: int) -> dict[str, Any]:
    """A Node ``status.images`` entry for a pulled image: its digest name, then its tag name."""
    names = [image_id(ref)]
    if not ref.digest:
        names.append(ref.tagged)
    return {"names": names, "sizeBytes": size}


def merge_node_images(images: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Add an image to a Node's list, largest first, at most NODE_STATUS_MAX_IMAGES."""
    names = set(entry["names"])
    out = [e for e in images if not names.intersection(e.get("names") or [])]
    out.append(entry)
    out.sort(key=lambda e: -int(e.get("sizeBytes") or 0))
    return out[:NODE_STATUS_MAX_IMAGES]
