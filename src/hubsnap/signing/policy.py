"""Trust policy: which keys are trusted for which repositories, and what verification requires.

A policy file (YAML, schema in ``schemas/policy.schema.json``) lists scoped policies in the
spirit of notation's trust policy::

    version: 1
    policies:
      - name: releases
        scopes: ["registry.example.com/models/*", "oci:/srv/store"]
        level: strict            # or audit: report failures, exit 0
        keys:
          - path: release.pub    # relative to the policy file
            fingerprint: sha256:...   # optional pin, checked when the policy is loaded
        require:
          signature: true        # an OMS signature
          provenance: true
          chain: true            # walk parents to a provenance with no parent
          maxDepth: 8
          maxAge: 90d            # s, m, h or d; of the provenance's signed time

Scopes are shell globs over what the repository is called: ``registry/repository`` for a
registry, ``oci:ABSOLUTE_PATH`` for a layout. The first policy whose scope matches applies; a
repository no policy covers trusts no key. Without a file, the keys given on the command line
are trusted everywhere and the defaults below apply.

``maxAge`` is measured from the time signed inside the provenance statement, never from a
referrer's (unsigned) annotation; an OMS statement records no time, so an artifact without a
valid provenance fails ``maxAge``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from hubsnap import values
from hubsnap.documents import InvalidDocument, load_yaml
from hubsnap.errors import UsageError
from hubsnap.localfile import read_regular_file
from hubsnap.signing.keys import PublicKey, load_public_key

__all__ = ["LEVELS", "PolicyLevel", "Requirements", "ScopePolicy", "TrustPolicy", "load_policy"]


class PolicyLevel(StrEnum):
    """What a failed requirement means: ``strict`` fails the command, ``audit`` reports it."""

    STRICT = "strict"
    AUDIT = "audit"


LEVELS = tuple(PolicyLevel)
DEFAULT_MAX_DEPTH = 8
_MAX_POLICY_BYTES = 256 * 1024
#: ``maxAge`` up to a century: longer is a typo, not a policy.
MAX_AGE_SECONDS = 36525 * 86400.0


@dataclass(frozen=True)
class Requirements:
    """What must verify. ``max_age`` is in seconds, ``None`` for no limit."""

    signature: bool = True
    provenance: bool = True
    chain: bool = False
    max_depth: int = DEFAULT_MAX_DEPTH
    max_age: float | None = None


@dataclass(frozen=True)
class ScopePolicy:
    name: str
    scopes: tuple[str, ...]
    keys: tuple[PublicKey, ...]
    level: PolicyLevel = PolicyLevel.STRICT
    require: Requirements = field(default_factory=Requirements)

    def matches(self, repository: str) -> bool:
        return any(fnmatch.fnmatchcase(repository, scope) for scope in self.scopes)


@dataclass(frozen=True)
class TrustPolicy:
    """Scoped policies in file order; ``extra_keys`` (from ``--key``) are trusted in all."""

    policies: tuple[ScopePolicy, ...]
    extra_keys: tuple[PublicKey, ...] = ()

    @classmethod
    def from_keys(cls, keys: tuple[PublicKey, ...], require: Requirements) -> TrustPolicy:
        return cls((ScopePolicy("command line", ("*",), keys, PolicyLevel.STRICT, require),))

    def for_repository(self, repository: str) -> ScopePolicy | None:
        for policy in self.policies:
            if policy.matches(repository):
                if self.extra_keys:
                    return replace(policy, keys=policy.keys + self.extra_keys)
                return policy
        return None

    def with_keys(self, keys: tuple[PublicKey, ...]) -> TrustPolicy:
        return replace(self, extra_keys=self.extra_keys + keys)


def _duration(value: object, where: str) -> float:
    hint = "use e.g. 90d, 12h or 30m"
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UsageError(f"{where} must be a duration", hint=hint)
    try:
        return values.parse_duration(str(value), maximum=MAX_AGE_SECONDS)
    except values.InvalidValue as e:
        raise UsageError(f"{where}: {e}", hint=hint) from e


def _check_keys(value: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise UsageError(f"{where}: unknown field {unknown[0]!r}")


def _requirements(value: object, where: str) -> Requirements:
    if value is None:
        return Requirements()
    if not isinstance(value, dict):
        raise UsageError(f"{where}.require must be a mapping")
    _check_keys(value, {"signature", "provenance", "chain", "maxDepth", "maxAge"}, where)
    flags = {}
    for name in ("signature", "provenance", "chain"):
        flag = value.get(name, name != "chain")
        if not isinstance(flag, bool):
            raise UsageError(f"{where}.require.{name} must be true or false")
        flags[name] = flag
    depth = value.get("maxDepth", DEFAULT_MAX_DEPTH)
    if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= 64:
        raise UsageError(f"{where}.require.maxDepth must be an integer from 1 to 64")
    max_age = value.get("maxAge")
    return Requirements(
        signature=flags["signature"],
        provenance=flags["provenance"],
        chain=flags["chain"],
        max_depth=depth,
        max_age=_duration(max_age, f"{where}.require.maxAge") if max_age is not None else None,
    )


def _key(value: object, base: Path, where: str) -> PublicKey:
    entry = {"path": value} if isinstance(value, str) else value
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise UsageError(f"{where}: a key is a path or a mapping with 'path'")
    _check_keys(entry, {"path", "fingerprint"}, where)
    key = load_public_key((base / entry["path"]).expanduser())
    pinned = entry.get("fingerprint")
    if pinned is not None and pinned != key.fingerprint:
        raise UsageError(
            f"{where}: key {entry['path']} has fingerprint {key.fingerprint}, "
            f"but the policy pins {pinned}"
        )
    return key


def _scope_policy(value: object, base: Path, index: int) -> ScopePolicy:
    where = f"policies[{index}]"
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a mapping")
    _check_keys(value, {"name", "scopes", "level", "keys", "require"}, where)
    scopes = value.get("scopes")
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise UsageError(f"{where}.scopes must be a non-empty list of globs")
    try:
        level = PolicyLevel(value.get("level", PolicyLevel.STRICT))
    except ValueError as e:
        raise UsageError(f"{where}.level must be strict or audit") from e
    keys = value.get("keys", [])
    if not isinstance(keys, list):
        raise UsageError(f"{where}.keys must be a list")
    return ScopePolicy(
        name=str(value.get("name") or where),
        scopes=tuple(scopes),
        keys=tuple(_key(k, base, f"{where}.keys[{i}]") for i, k in enumerate(keys)),
        level=level,
        require=_requirements(value.get("require"), where),
    )


def load_policy(path: Path) -> TrustPolicy:
    """Load and check a policy file; :class:`UsageError` (exit 2) naming what is wrong."""
    data = read_regular_file(path, limit=_MAX_POLICY_BYTES, what="policy file")
    try:
        value = load_yaml(data, f"policy file {path}", max_bytes=_MAX_POLICY_BYTES)
    except InvalidDocument as e:
        raise UsageError(str(e)) from e
    if not isinstance(value, dict):
        raise UsageError(f"policy file {path} must be a mapping")
    _check_keys(value, {"version", "policies"}, str(path))
    if value.get("version") != 1:
        raise UsageError(f"policy file {path}: version must be 1")
    policies = value.get("policies")
    if not isinstance(policies, list) or not policies:
        raise UsageError(f"policy file {path}: policies must be a non-empty list")
    base = path.parent
    return TrustPolicy(tuple(_scope_policy(p, base, i) for i, p in enumerate(policies)))
