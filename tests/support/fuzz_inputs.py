"""Fuzz inputs: seeds written by hubsnap's own code (and the golden files), and mutations.

A mutation changes a seed byte-wise (hostile tokens inserted, bytes flipped, ranges cut,
repeated or truncated) or structurally (a subtree of the parsed seed replaced by a hostile
value, a key dropped or added, then written back as JSON or YAML).
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsnap.digest import Digest
from hubsnap.documents import InvalidDocument, dump_yaml, load_json, load_yaml
from hubsnap.models import (
    ARTIFACT_TYPE_MODEL,
    MEDIA_TYPE_IMAGE_INDEX,
    MEDIA_TYPE_IMAGE_MANIFEST,
    MEDIA_TYPE_MODEL_CONFIG,
    MEDIA_TYPE_MODEL_WEIGHT,
    Descriptor,
    Manifest,
)
from hubsnap.signing.dsse import STATEMENT_TYPE, sign_statement
from hubsnap.signing.keys import load_private_key, load_public_key
from hubsnap.snapshot import Selection, SnapshotDocument, SnapshotFile
from support.keys import FIXED_KEY, FIXED_PUB

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
HEX = "0123456789abcdef" * 4
DIGEST = Digest.sha256(HEX)


# -- mutation -------------------------------------------------------------------------------

_TOKENS = (
    b"[" * 100_000, b'{"a":' * 5000, b"- " * 3000, b"\\ud800", b"\\udc00", b"NaN", b"1e999",
    b"-0", b"9" * 5000, b"0x" + b"f" * 100, b"&a ", b"*a", b"!!binary ", b"!!python/name:x ",
    b"<<: ", b"\x00", b"\xff", b"\xed\xa0\x80", b'"', b"\\", b"\n---\n", b"2023-02-30",
    b"0001-01-01T00:00:00+01:00", b"9999-12-31T23:59:59-01:00", b"\xf0\x9f\x98", "²".encode(),
    b"@sha256:", b"sha256:" + HEX.encode(), b":", b"/", b"..", b"\t", b"\r\n", b"=",
    b"a" * 5000, b"?", b"%", b"true", b"null", b"{}", b"[]", b"~", b"'",
)  # fmt: skip

_HOSTILE: tuple[Any, ...] = (
    None, True, False, 0, -1, 2**63, 2**64 - 1, 1.5, -0.0, 1e308, "", "x" * 300, "\ud800",
    "sha256:XYZ", "md5:00", "../../etc/passwd", "a" * 5000, "²d", "9" * 30, [], {}, [[[[[]]]]],
    {"a": {"b": {"c": {}}}}, "0001-01-01T00:00:00+01:00", "2023-02-30", "/dev/zero", "/",
    "NaN", "1e999", "-", "@", "oci:", " ", "\x00", "é", "\n",
)  # fmt: skip


def _replace_random_node(value: Any, rng: random.Random) -> Any:
    """A copy of ``value`` with one subtree replaced, a key removed or a key added."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        out = dict(value)
        choice = rng.random()
        if choice < 0.15:
            del out[key]
        elif choice < 0.25:
            out[rng.choice(["extra", "", "\u00e9", key + "x"])] = rng.choice(_HOSTILE)
        elif choice < 0.6:
            out[key] = _replace_random_node(value[key], rng)
        else:
            out[key] = rng.choice(_HOSTILE)
        return out
    if isinstance(value, list) and value and rng.random() < 0.8:
        index = rng.randrange(len(value))
        out_list = list(value)
        if rng.random() < 0.5:
            out_list[index] = _replace_random_node(value[index], rng)
        else:
            out_list[index] = rng.choice(_HOSTILE)
        if rng.random() < 0.1:
            out_list.extend(out_list * rng.randrange(1, 4))
        return out_list
    return rng.choice(_HOSTILE)


def _structured(seed: bytes, rng: random.Random) -> bytes | None:
    try:
        if seed.lstrip().startswith((b"{", b"[")):
            value = load_json(seed, "seed")
        else:
            value = load_yaml(seed, "seed")
    except InvalidDocument:
        return None
    mutated = _replace_random_node(value, rng)
    if rng.random() < 0.5 or not isinstance(mutated, dict | list):
        return json.dumps(mutated).encode()
    try:
        return dump_yaml(mutated)
    except Exception:
        return json.dumps(mutated).encode()


def mutate(seed: bytes, rng: random.Random, *, structured: bool = True) -> bytes:
    """``seed`` changed by one to four random mutations (byte-wise or structural)."""
    if structured and rng.random() < 0.35:
        changed = _structured(seed, rng)
        if changed is not None:
            return changed
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        position = rng.randint(0, len(data))
        op = rng.random()
        if op < 0.3:
            token = rng.choice(_TOKENS)
            data[position:position] = token[: rng.choice((len(token), rng.randint(1, 64)))]
        elif op < 0.45 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif op < 0.6:
            data[position : position + rng.randint(1, 32)] = b""
        elif op < 0.7:
            data = data[:position]
        elif op < 0.85 and data:
            start = rng.randrange(len(data))
            piece = data[start : start + rng.randint(1, 64)]
            data[position:position] = piece * rng.randint(1, 50)
        else:
            data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(data)


# -- seeds (written by hubsnap's own code) --------------------------------------------------


def manifest_seed() -> bytes:
    layer = Descriptor(
        MEDIA_TYPE_MODEL_WEIGHT,
        DIGEST,
        12,
        annotations={"org.cncf.model.filepath": "model.safetensors", "k": "v"},
    )
    config = Descriptor(MEDIA_TYPE_MODEL_CONFIG, DIGEST, 2)
    subject = Descriptor(MEDIA_TYPE_IMAGE_MANIFEST, DIGEST, 300)
    manifest = Manifest(
        config,
        (layer, layer),
        artifact_type=ARTIFACT_TYPE_MODEL,
        subject=subject,
        annotations={"org.opencontainers.image.created": "2024-06-01T00:00:00Z"},
    )
    return manifest.to_bytes()


def index_seed() -> bytes:
    entry = Descriptor(
        MEDIA_TYPE_IMAGE_MANIFEST,
        DIGEST,
        300,
        annotations={"org.opencontainers.image.ref.name": "latest"},
        artifact_type=ARTIFACT_TYPE_MODEL,
    )
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_IMAGE_INDEX,
        "manifests": [entry.to_json()],
    }
    return json.dumps(index, indent=2).encode()


@dataclass(frozen=True)
class _Statement:
    value: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.value


def bundle_seed() -> bytes:
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "model", "digest": {"sha256": HEX}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {"resources": [{"name": "a", "digest": HEX, "algorithm": "sha256"}]},
    }
    return sign_statement(_Statement(statement), load_private_key(FIXED_KEY)).to_bytes()


def policy_seed() -> bytes:
    fingerprint = load_public_key(FIXED_PUB).fingerprint
    policy = {
        "version": 1,
        "policies": [
            {
                "name": "releases",
                "scopes": ["registry.example.com/models/*", "oci:/srv/store"],
                "level": "strict",
                "keys": [{"path": str(FIXED_PUB), "fingerprint": fingerprint}],
                "require": {"signature": True, "chain": True, "maxDepth": 8, "maxAge": "90d"},
            },
            {"scopes": ["*"], "level": "audit", "keys": [str(FIXED_PUB)]},
        ],
    }
    return dump_yaml(policy)


def snapshot_seed() -> bytes:
    files = (
        SnapshotFile("config.json", 10, False, "0" * 40, HEX, HEX, True),
        SnapshotFile("model.safetensors", 100, True, "1" * 40, HEX, None, False),
    )
    document = SnapshotDocument(
        model_id="org/model",
        source="https://huggingface.co/org/model",
        revision="main",
        commit="2" * 40,
        commit_date="2024-06-01T00:00:00Z",
        selection=Selection(include=("*.json",)),
        files=files,
        artifact_digest=str(DIGEST),
        artifact_reference=f"oci:/tmp/store@{DIGEST}",
        artifact_tag=None,
        card={"license": "mit", "base_model": ["a/b"]},
    )
    return document.to_yaml()


def docker_seeds() -> tuple[bytes, ...]:
    auth = base64.b64encode(b"user:pass").decode()
    return (
        json.dumps({"auths": {"registry.example.com": {"auth": auth}}}).encode(),
        json.dumps({"auths": {"https://registry.example.com": {"identitytoken": "t"}}}).encode(),
        json.dumps(
            {"auths": {"registry.example.com": {"username": "u", "password": "p"}}}
        ).encode(),
    )


CARD = (
    b"---\nlicense: mit\nbase_model: [org/base]\nbase_model_relation: finetune\n"
    b"datasets: [a, b]\ndate: 2024-01-01\nmodel-index:\n- name: x\n  results: []\n---\n# Card\n"
)
HUB = (
    json.dumps(
        {
            "id": "org/model",
            "sha": "0" * 40,
            "lastModified": "2024-01-01T00:00:00.000Z",
            "createdAt": "2023-01-01T00:00:00.000Z",
            "downloads": 3,
            "likes": 1,
            "siblings": [
                {"rfilename": "config.json", "size": 10, "blobId": "0" * 40},
                {
                    "rfilename": "model.safetensors",
                    "blobId": "1" * 40,
                    "lfs": {"sha256": HEX, "size": 100},
                },
            ],
        }
    ).encode(),
    json.dumps(
        [{"id": "a/b", "lastModified": "2024-01-01T00:00:00Z", "pipeline_tag": "x"}]
    ).encode(),
)


def golden(*names: str) -> tuple[bytes, ...]:
    return tuple((GOLDEN / name).read_bytes() for name in names)
