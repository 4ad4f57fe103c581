"""The OpenSSF Model Signing (OMS) statement, built from a manifest's layer digests.

A model file's layer digest *is* its OMS resource digest (the SHA-256 of its bytes), so the
statement is derived from the manifest alone — nothing is re-hashed. The format is what
``model_signing`` 1.x signs with ``sign key`` and checks with ``verify key``: subject = the
model name and the SHA-256 over the raw resource digests in resource order; predicate
``https://model_signing/signature/v1.0`` with ``serialization`` (method ``files``, SHA-256,
no symlinks, the git paths the reference verifier ignores by default) and ``resources``
(``name``, ``algorithm``, ``digest``) ordered as ``model_signing`` orders paths.

Top-level ``.git``, ``.gitattributes``, ``.github`` and ``.gitignore`` are left out of the
resources because ``model_signing verify`` skips them on disk; a Hub repository always has a
``.gitattributes``, which the manifest (and hence the provenance) still covers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.models import Manifest
from hubsnap.oci.artifact import model_files
from hubsnap.signing.dsse import STATEMENT_TYPE

__all__ = [
    "OMS_PREDICATE_TYPE",
    "OmsResource",
    "OmsStatement",
    "Serialization",
    "build_oms_statement",
    "check_oms_statement",
    "is_signed_path",
    "oms_resources",
]

OMS_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
#: What ``model_signing`` ignores by default when it hashes a directory, in its order.
IGNORED_GIT_PATHS = (".github", ".gitignore", ".git", ".gitattributes")


@dataclass(frozen=True)
class OmsResource:
    """One signed file: its relative path and the SHA-256 of its bytes."""

    name: str
    digest: Digest


@dataclass(frozen=True)
class Serialization:
    """How the signer hashed the folder. ``allow_symlinks``/``ignore_paths`` are ``None`` when
    the statement leaves them out."""

    method: str = "files"
    hash_type: str = "sha256"
    allow_symlinks: bool | None = False
    ignore_paths: tuple[str, ...] | None = IGNORED_GIT_PATHS

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "hash_type": self.hash_type}
        if self.allow_symlinks is not None:
            out["allow_symlinks"] = self.allow_symlinks
        if self.ignore_paths is not None:
            out["ignore_paths"] = list(self.ignore_paths)
        return out

    @classmethod
    def from_json(cls, value: object) -> Serialization:
        if not isinstance(value, dict):
            raise ValueError("serialization must be an object")
        method, hash_type = value.get("method"), value.get("hash_type")
        if not isinstance(method, str) or not isinstance(hash_type, str):
            raise ValueError("serialization needs string method and hash_type")
        symlinks = value.get("allow_symlinks")
        if symlinks is not None and not isinstance(symlinks, bool):
            raise ValueError("serialization.allow_symlinks must be true or false")
        ignore = value.get("ignore_paths")
        if ignore is not None and (
            not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore)
        ):
            raise ValueError("serialization.ignore_paths must be a list of strings")
        return cls(method, hash_type, symlinks, tuple(ignore) if ignore is not None else None)


def _path_key(name: str) -> tuple[str, ...]:
    # model_signing sorts PurePosixPath objects, i.e. by path components, not by string:
    # "a/b" sorts before "a-b/c" even though "-" < "/".
    return tuple(name.split("/"))


def _root_digest(resources: tuple[OmsResource, ...]) -> Digest:
    hasher = hashlib.sha256()
    for resource in resources:
        hasher.update(bytes.fromhex(resource.digest.hex))
    return Digest.sha256(hasher.hexdigest())


@dataclass(frozen=True)
class OmsStatement:
    """The in-toto Statement v1 ``model_signing`` signs: the model's name, the SHA-256 over
    its resource digests in order (``root``), the serialization and the resources."""

    model_name: str
    root: Digest
    resources: tuple[OmsResource, ...]
    serialization: Serialization = Serialization()

    @classmethod
    def of(cls, model_name: str, resources: tuple[OmsResource, ...]) -> OmsStatement:
        return cls(model_name, _root_digest(resources), resources)

    def to_json(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.model_name, "digest": {"sha256": self.root.hex}}],
            "predicateType": OMS_PREDICATE_TYPE,
            "predicate": {
                "serialization": self.serialization.to_json(),
                "resources": [
                    {"name": r.name, "algorithm": "sha256", "digest": r.digest.hex}
                    for r in self.resources
                ],
            },
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> OmsStatement:
        """Read a *verified* statement; :class:`IntegrityError` naming what is malformed."""
        try:
            if value.get("_type") != STATEMENT_TYPE:
                raise ValueError("not an in-toto Statement v1")
            if value.get("predicateType") != OMS_PREDICATE_TYPE:
                raise ValueError(f"predicateType is not {OMS_PREDICATE_TYPE}")
            subjects = value.get("subject")
            if not isinstance(subjects, list) or len(subjects) != 1:
                raise ValueError("subject must list exactly one model")
            name, root = _subject(subjects[0])
            predicate = value.get("predicate")
            if not isinstance(predicate, dict):
                raise ValueError("predicate must be an object")
            raw = predicate.get("resources")
            if not isinstance(raw, list):
                raise ValueError("predicate.resources must be a list")
            resources = tuple(_resource(r) for r in raw)
            serialization = Serialization.from_json(predicate.get("serialization"))
        except (ValueError, UsageError) as e:
            message = e.message if isinstance(e, UsageError) else str(e)
            raise IntegrityError(f"OMS statement is malformed: {message}") from e
        return cls(name, root, resources, serialization)


def _subject(value: object) -> tuple[str, Digest]:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ValueError("subject needs a name")
    digest = value.get("digest")
    if not isinstance(digest, dict) or not isinstance(digest.get("sha256"), str):
        raise ValueError("subject has no sha256 digest")
    return value["name"], Digest.sha256(digest["sha256"])


def _resource(value: object) -> OmsResource:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ValueError("each resource needs a name")
    if value.get("algorithm") != "sha256":
        raise ValueError(f"resource {value['name']} is not hashed with SHA-256")
    digest = value.get("digest")
    if not isinstance(digest, str):
        raise ValueError(f"resource {value['name']} has no digest")
    return OmsResource(value["name"], Digest.sha256(digest))


def is_signed_path(path: str) -> bool:
    """Whether the OMS signature covers the file ``path`` (git's own files are left out)."""
    return path.split("/", 1)[0] not in IGNORED_GIT_PATHS


def oms_resources(manifest: Manifest) -> tuple[OmsResource, ...]:
    """The manifest's files as OMS resources, git paths left out, in ``model_signing`` order."""
    resources = []
    for path, layer in model_files(manifest):
        if not is_signed_path(path):
            continue
        if layer.digest.algorithm != "sha256":
            raise IntegrityError(f"layer {path} is not addressed by SHA-256")
        resources.append(OmsResource(path, layer.digest))
    if not resources:
        raise IntegrityError("the artifact has no model files to sign")
    return tuple(sorted(resources, key=lambda r: _path_key(r.name)))


def build_oms_statement(manifest: Manifest, model_name: str) -> OmsStatement:
    """The statement that ``model_signing`` would sign for the pulled files."""
    return OmsStatement.of(model_name, oms_resources(manifest))


def check_oms_statement(statement: OmsStatement, manifest: Manifest) -> int:
    """Check a *verified* OMS statement covers exactly ``manifest``'s files; return the count.

    Raises :class:`IntegrityError` naming the first difference.
    """
    serialization = statement.serialization
    if serialization.method != "files" or serialization.hash_type != "sha256":
        raise IntegrityError("OMS statement uses a serialization other than files/sha256")
    if statement.root != _root_digest(statement.resources):
        raise IntegrityError("OMS statement subject digest does not match its resources")
    expected = {r.name: r.digest for r in oms_resources(manifest)}
    actual = {r.name: r.digest for r in statement.resources}
    if len(actual) != len(statement.resources):
        raise IntegrityError("OMS statement names a file twice")
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            raise IntegrityError(f"OMS signature does not cover {name}")
        if name not in expected:
            raise IntegrityError(f"OMS signature names {name}, which the artifact lacks")
        if expected[name] != actual[name]:
            raise IntegrityError(f"OMS signature digest for {name} differs from the artifact")
    return len(statement.resources)
