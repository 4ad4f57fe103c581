"""Artifact references: registry (docker/oras syntax) and local OCI layouts (skopeo syntax).

``HOST[:PORT]/REPO[:TAG|@sha256:HEX]`` names a registry artifact; ``oci:PATH[:TAG|@DIGEST]``
an OCI image layout on disk. A bare ``sha256:HEX`` or ``@sha256:HEX`` names an artifact in
the local store.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from pathlib import Path

from hubsnap.digest import Digest
from hubsnap.errors import UsageError

__all__ = [
    "LayoutReference",
    "Reference",
    "RegistryReference",
    "is_loopback_host",
    "parse_reference",
]

_REPO = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$"
)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (no port; IPv6 in brackets) surely names this machine."""
    if host.lower() == "localhost":
        return True
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.IPv6Address(host[1:-1]) == ipaddress.IPv6Address("::1")
        except ValueError:
            return False
    try:
        return ipaddress.IPv4Address(host) in _LOOPBACK_V4
    except ValueError:
        return False


@dataclass(frozen=True)
class RegistryReference:
    """``registry/repository`` plus a tag or a digest (``None`` when not given)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def host(self) -> str:
        if self.registry.startswith("["):
            return self.registry.partition("]")[0] + "]"
        return self.registry.rsplit(":", 1)[0]

    @property
    def is_loopback(self) -> bool:
        """``localhost``, a 127.0.0.0/8 address literal or ``[::1]``: plain HTTP by default.

        Names that merely start with ``127.`` and other IPv6 literals are not loopback.
        """
        return is_loopback_host(self.host)

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest when known, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or "latest"

    def with_digest(self, digest: Digest) -> RegistryReference:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.digest is not None:
            return f"{text}@{self.digest}"
        return f"{text}:{self.tag}" if self.tag else text


@dataclass(frozen=True)
class LayoutReference:
    """An OCI image layout directory plus a tag or digest (``None`` when not given)."""

    path: Path
    tag: str | None = None
    digest: Digest | None = None

    def with_digest(self, digest: Digest) -> LayoutReference:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        # A colon in the last component would read back as a tag: ``/.`` after it keeps it
        # in the path (``oci:/x/store:v1/.`` is the directory ``/x/store:v1``, no tag).
        path = str(self.path)
        text = f"oci:{path}/." if ":" in self.path.name or "@" in self.path.name else f"oci:{path}"
        if self.digest is not None:
            return f"{text}@{self.digest}"
        return f"{text}:{self.tag}" if self.tag else text


Reference = RegistryReference | LayoutReference


def _split_digest(text: str, *, layout: bool = False) -> tuple[str, Digest | None]:
    """Split ``NAME@DIGEST``; in a layout path an ``@`` not followed by a digest stays part
    of the path."""
    head, at, digest = text.rpartition("@")
    if not at or (layout and ("/" in digest or ":" not in digest)):
        return text, None
    return head, Digest.parse(digest)


def parse_reference(text: str, *, store: Path | None = None) -> Reference:
    """Parse a reference; ``store`` resolves bare digests to the local store."""
    if text.startswith("oci:"):
        rest, digest = _split_digest(text[4:], layout=True)
        tag = None
        # skopeo's syntax: the tag follows the last colon, but only after the last slash.
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash and colon > 0:
            rest, tag = rest[:colon], rest[colon + 1 :]
            if not _TAG.match(tag):
                raise UsageError(f"invalid tag {tag!r} in {text!r}")
        if not rest:
            raise UsageError(
                f"invalid layout reference {text!r}", hint="use oci:PATH[:TAG|@DIGEST]"
            )
        return LayoutReference(Path(rest), tag, digest)
    if text.startswith(("sha256:", "@sha256:")):
        if store is None:
            raise UsageError(f"{text!r} needs a local store")
        return LayoutReference(store, None, Digest.parse(text.lstrip("@")))
    name, digest = _split_digest(text)
    registry, sep, path = name.partition("/")
    if (
        not sep
        or not _HOST.match(registry)
        or not ("." in registry or ":" in registry or registry == "localhost")
    ):
        raise UsageError(
            f"invalid reference {text!r}",
            hint="use HOST[:PORT]/REPO[:TAG|@sha256:HEX] or oci:PATH[:TAG|@sha256:HEX]",
        )
    tag = None
    if ":" in path:
        path, _, tag = path.rpartition(":")
        if not _TAG.match(tag):
            raise UsageError(f"invalid tag {tag!r} in {text!r}")
    if not _REPO.match(path):
        raise UsageError(
            f"invalid repository name {path!r} in {text!r}", hint="lowercase a-z0-9 . _ - /"
        )
    return RegistryReference(registry, path, tag, digest)
