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

from hubsnap.errors import IntegrityError
from hubsnap.models import Manifest
from hubsnap.oci.artifact import model_files
from hubsnap.signing.dsse import STATEMENT_TYPE

__all__ = ["OMS_PREDICATE_TYPE", "OmsResource", "build_oms_statement", "check_oms_statement"]

OMS_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
#: What ``model_signing`` ignores by default when it hashes a directory, in its order.
IGNORED_GIT_PATHS = (".github", ".gitignore", ".git", ".gitattributes")


@dataclass(frozen=True)
class OmsResource:
    name: str
    digest_hex: str


def _path_key(name: str) -> tuple[str, ...]:
    # model_signing sorts PurePosixPath objects, i.e. by path components, not by string:
    # "a/b" sorts before "a-b/c" even though "-" < "/".
    return tuple(name.split("/"))


def oms_resources(manifest: Manifest) -> list[OmsResource]:
    """The manifest's files as OMS resources, git paths left out, in ``model_signing`` order."""
    resources = []
    for path, layer in model_files(manifest):
        if path.split("/", 1)[0] in IGNORED_GIT_PATHS:
            continue
        if layer.digest.algorithm != "sha256":
            raise IntegrityError(f"layer {path} is not addressed by SHA-256")
        resources.append(OmsResource(path, layer.digest.hex))
    if not resources:
        raise IntegrityError("the artifact has no model files to sign")
    return sorted(resources, key=lambda r: _path_key(r.name))


def _root_digest(resources: list[OmsResource]) -> str:
    hasher = hashlib.sha256()
    for resource in resources:
        hasher.update(bytes.fromhex(resource.digest_hex))
    return hasher.hexdigest()


def build_oms_statement(manifest: Manifest, model_name: str) -> dict[str, Any]:
    """The in-toto Statement v1 that ``model_signing`` would sign for the pulled files."""
    resources = oms_resources(manifest)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": _root_digest(resources)}}],
        "predicateType": OMS_PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": list(IGNORED_GIT_PATHS),
            },
            "resources": [
                {"name": r.name, "algorithm": "sha256", "digest": r.digest_hex} for r in resources
            ],
        },
    }


def check_oms_statement(statement: dict[str, Any], manifest: Manifest) -> int:
    """Check a *verified* OMS statement covers exactly ``manifest``'s files; return the count.

    Raises :class:`IntegrityError` naming the first difference.
    """
    try:
        predicate = statement["predicate"]
        serialization = predicate["serialization"]
        signed = [
            OmsResource(str(r["name"]), str(r["digest"]))
            for r in predicate["resources"]
            if r["algorithm"] == "sha256"
        ]
        if len(signed) != len(predicate["resources"]):
            raise IntegrityError("OMS statement has a resource not hashed with SHA-256")
        (subject,) = statement["subject"]
        subject_digest = subject["digest"]["sha256"]
    except (KeyError, TypeError, ValueError) as e:
        raise IntegrityError(f"OMS statement is malformed: missing or bad {e}") from e
    if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
        raise IntegrityError("OMS statement uses a serialization other than files/sha256")
    try:
        root = _root_digest(signed)
    except ValueError as e:
        raise IntegrityError("OMS statement has a resource digest that is not hex") from e
    if subject_digest != root:
        raise IntegrityError("OMS statement subject digest does not match its resources")
    expected = {r.name: r.digest_hex for r in oms_resources(manifest)}
    actual = {r.name: r.digest_hex for r in signed}
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            raise IntegrityError(f"OMS signature does not cover {name}")
        if name not in expected:
            raise IntegrityError(f"OMS signature names {name}, which the artifact lacks")
        if expected[name] != actual[name]:
            raise IntegrityError(f"OMS signature digest for {name} differs from the artifact")
    return len(signed)
