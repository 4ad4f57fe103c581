"""Synthetic listing entries: enough small public models that listing pagination is real.

Each entry is a genuine one-commit repository (``.gitattributes`` and a model card describing
what the model is for, see ``cards``), so ``model_info``, ``list_repo_tree`` and downloads
work on it too. All fields derive from SHA-256 of the entry's index: the catalogue is
identical on every machine and is generated at start-up rather than stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from hubemu.cards import Profile, profile
from hubemu.store import BlobStore, Repo, make_commit

BULK_AUTHOR = "hubsnap-bulk"
BULK_COUNT = 1_100
AUTHORS = (
    "acme-ai",
    "northwind-ml",
    "blue-heron",
    "lattice-labs",
    "quokka-nlp",
    "tinyvision",
    "fjord-research",
    "sunbird",
    "polyglot-lab",
    "orbit-speech",
    "mosaic-data",
    "kestrel",
    "riverbank",
    "opal-models",
    "sable-ai",
    "tundra-nlp",
    "cobalt-vision",
    "meadow-ml",
    "harbor-labs",
    "zephyr-research",
)
OTHERS_PER_AUTHOR = 16
START = 1_577_836_800  # 2020-01-01T00:00:00Z
SPAN = 5 * 365 * 86_400
GITATTRIBUTES = (
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
    b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
)


def _draw(index: int) -> bytes:
    return hashlib.sha256(f"hub-emulator-catalog:{index}".encode()).digest()


def _entry(index: int, author: str, blobs: BlobStore) -> Repo:
    d = _draw(index)
    about = profile(index)
    created = START + int.from_bytes(d[3:7], "big") % SPAN
    modified = created + int.from_bytes(d[7:10], "big") % (200 * 86_400)
    # Heavy-tailed popularity, as on the Hub: most models are barely downloaded.
    downloads = int(10 ** (d[10] / 255 * 6.5)) - 1
    likes = int(10 ** (d[11] / 255 * 3.5)) - 1
    trending = d[12] % 40
    repo = Repo(
        id=f"{author}/{about.name}",
        created_epoch=created,
        downloads=downloads,
        likes=likes,
        trending=trending,
    )
    commit = make_commit(
        {
            ".gitattributes": blobs.put(GITATTRIBUTES),
            "README.md": blobs.put(about.card.encode()),
        },
        blobs.read,
        parents=(),
        title="Upload model card",
        author=author,
        epoch=modified,
    )
    repo.commits[commit.sha] = commit
    repo.branches["main"] = commit.sha
    return repo


def entries() -> Iterator[tuple[int, str]]:
    """Each listing entry's index and author: ``BULK_COUNT`` under one, the rest spread."""
    for index in range(BULK_COUNT):
        yield index, BULK_AUTHOR
    index = BULK_COUNT
    for author in AUTHORS:
        for _ in range(OTHERS_PER_AUTHOR):
            yield index, author
            index += 1


def profiles() -> dict[str, Profile]:
    """What every listing entry is, by repository id, without building any repository."""
    out = {}
    for index, author in entries():
        about = profile(index)
        out[f"{author}/{about.name}"] = about
    return out


def build_catalog(blobs: BlobStore) -> list[Repo]:
    """Every listing entry, as a one-commit repository."""
    return [_entry(index, author, blobs) for index, author in entries()]
