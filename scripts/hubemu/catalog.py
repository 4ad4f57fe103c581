"""Synthetic listing entries: enough small public models that listing pagination is real.

Each entry is a genuine one-commit repository (``.gitattributes`` and a short model card), so
``model_info``, ``list_repo_tree`` and downloads work on it too. All fields derive from
SHA-256 of the entry's index: the catalogue is identical on every machine and is generated
at start-up rather than stored.
"""

from __future__ import annotations

import hashlib

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
TASKS = (
    ("text-classification", "transformers", "bert"),
    ("text-classification", "transformers", "distilbert"),
    ("token-classification", "transformers", "roberta"),
    ("sentence-similarity", "sentence-transformers", "bert"),
    ("feature-extraction", "sentence-transformers", "mpnet"),
    ("fill-mask", "transformers", "bert"),
    ("text-generation", "transformers", "llama"),
    ("text-generation", "gguf", "llama"),
    ("summarization", "transformers", "t5"),
    ("translation", "transformers", "marian"),
    ("question-answering", "transformers", "deberta-v2"),
    ("zero-shot-classification", "transformers", "bart"),
    ("image-classification", "transformers", "vit"),
    ("automatic-speech-recognition", "transformers", "whisper"),
)
WORDS = (
    "tiny",
    "small",
    "base",
    "large",
    "mini",
    "distilled",
    "multilingual",
    "legal",
    "medical",
    "finance",
    "news",
    "code",
    "chat",
    "instruct",
    "retrieval",
    "reviews",
    "tweets",
    "support",
)
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
    task, library, arch = TASKS[d[0] % len(TASKS)]
    name = f"{arch}-{WORDS[d[1] % len(WORDS)]}-{WORDS[d[2] % len(WORDS)]}-{index:04d}"
    created = START + int.from_bytes(d[3:7], "big") % SPAN
    modified = created + int.from_bytes(d[7:10], "big") % (200 * 86_400)
    # Heavy-tailed popularity, as on the Hub: most models are barely downloaded.
    downloads = int(10 ** (d[10] / 255 * 6.5)) - 1
    likes = int(10 ** (d[11] / 255 * 3.5)) - 1
    trending = d[12] % 40
    repo = Repo(
        id=f"{author}/{name}",
        created_epoch=created,
        downloads=downloads,
        likes=likes,
        trending=trending,
    )
    license_id = ("apache-2.0", "mit", "cc-by-4.0", "openrail")[d[13] % 4]
    language = ("en", "fr", "de", "multilingual")[d[14] % 4]
    card = (
        f"---\nlicense: {license_id}\nlanguage: {language}\nlibrary_name: {library}\n"
        f"pipeline_tag: {task}\ntags:\n- {arch}\n---\n\n# {name}\n\nA listing fixture.\n"
    )
    commit = make_commit(
        {".gitattributes": blobs.put(GITATTRIBUTES), "README.md": blobs.put(card.encode())},
        blobs.read,
        parents=(),
        title="Upload model card",
        author=author,
        epoch=modified,
    )
    repo.commits[commit.sha] = commit
    repo.branches["main"] = commit.sha
    return repo


def build_catalog(blobs: BlobStore) -> list[Repo]:
    """Every listing entry: ``BULK_COUNT`` under one author, the rest spread across authors."""
    repos = [_entry(i, BULK_AUTHOR, blobs) for i in range(BULK_COUNT)]
    index = BULK_COUNT
    for author in AUTHORS:
        for _ in range(OTHERS_PER_AUTHOR):
            repos.append(_entry(index, author, blobs))
            index += 1
    return repos
