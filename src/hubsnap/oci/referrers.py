"""Referrers indexes read from a registry, trusted no further than their subject.

An index (from the referrers API or the ``sha256-<hex>`` tag schema) is remote content: it
is capped at 4 MiB while read (by the caller) and at :data:`MAX_REFERRERS` distinct
referrers here; entries that name another subject, or the subject itself, are dropped, and
each referrer is listed once. A malformed entry (a bad digest, a negative size) makes the
index exit 6.
"""

from __future__ import annotations

from typing import Any

from hubsnap.canonical import loads_object
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, UsageError
from hubsnap.models import Descriptor

__all__ = ["MAX_REFERRERS", "index_descriptors", "referrers_tag"]

#: More referrers than this for one subject is not a registry answering honestly.
MAX_REFERRERS = 1000


def referrers_tag(subject: Digest) -> str:
    """The tag under which the referrers tag schema keeps ``subject``'s referrers index."""
    return f"{subject.algorithm}-{subject.hex}"


def _names_other_subject(entry: dict[str, Any], subject: Digest) -> bool:
    named = entry.get("subject")
    if named is None:
        return False
    digest = named.get("digest") if isinstance(named, dict) else named
    return digest != str(subject)


def index_descriptors(data: bytes, subject: Digest, what: str) -> list[Descriptor]:
    """The referrers of ``subject`` that the index ``data`` lists, checked and deduplicated."""
    try:
        manifests = loads_object(data, what).get("manifests", [])
        if not isinstance(manifests, list):
            raise ValueError("manifests must be a list")
    except (ValueError, RecursionError) as e:
        raise IntegrityError(f"malformed {what}: {e}") from e
    found: dict[Digest, Descriptor] = {}
    for entry in manifests:
        try:
            descriptor = Descriptor.from_json(entry)
        except (ValueError, UsageError) as e:
            raise IntegrityError(f"malformed {what}: {e}") from e
        if descriptor.digest == subject or _names_other_subject(entry, subject):
            continue
        found.setdefault(descriptor.digest, descriptor)
        if len(found) > MAX_REFERRERS:
            raise IntegrityError(
                f"{what} lists more than {MAX_REFERRERS} referrers of {subject}",
                hint="the registry's index is corrupt or hostile",
            )
    return list(found.values())
