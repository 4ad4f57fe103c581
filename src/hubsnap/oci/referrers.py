"""Referrers indexes read from a registry, trusted no further than their subject.

An index (from the referrers API or the ``sha256-<hex>`` tag schema) is remote content: it
is capped at 4 MiB while read (by the caller) and at :data:`MAX_REFERRERS` distinct
referrers here; entries that name another subject, or the subject itself, are dropped, and
each referrer is listed once. A malformed entry (a bad digest, a negative size) makes the
index exit 6.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubsnap.canonical import canonical_json, loads_object
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, RemoteError, UsageError
from hubsnap.models import MEDIA_TYPE_IMAGE_INDEX, Descriptor

__all__ = ["MAX_REFERRERS", "index_descriptors", "merge_into_tag_index", "referrers_tag"]

#: More referrers than this for one subject is not a registry answering honestly.
MAX_REFERRERS = 1000
#: Writes of a tag-schema referrers index before giving up on concurrent writers.
_MERGE_ATTEMPTS = 3


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


def merge_into_tag_index(
    read: Callable[[], list[Descriptor]],
    write: Callable[[bytes], object],
    descriptor: Descriptor,
    where: str,
) -> None:
    """Add ``descriptor`` to a tag-schema referrers index read by ``read`` and stored by
    ``write`` (``where`` names it in errors).

    The tag schema is read-modify-write with no compare-and-swap: another writer may
    replace the index between our read and our write. Reading it back after each write
    and merging again repairs a loss we can see; one that lands after our last read (a
    writer that read before us and writes after our check) can still drop our entry,
    which is why the referrers API wins wherever the registry offers it. Re-running the
    push or signature restores a dropped entry.
    """
    for _ in range(_MERGE_ATTEMPTS):
        current = read()
        if any(d.digest == descriptor.digest for d in current):
            return
        index = {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_IMAGE_INDEX,
            "manifests": [d.to_json() for d in (*current, descriptor)],
        }
        write(canonical_json(index))
    if not any(d.digest == descriptor.digest for d in read()):
        raise RemoteError(
            f"the referrers index {where} kept losing {descriptor.digest} to concurrent writers",
            hint="retry once the other writers are done",
        )
