"""Fuzz targets: every parser hubsnap points at untrusted bytes, with its contract and seeds.

The contract of a parser is what it may do with any input: return (and then its result must
be usable: re-encodable, hashable, in range), or raise a :class:`~hubsnap.errors.HubsnapError`
with one of its documented exit codes, or, for the neutral layers below the boundaries
(documents, values), raise their ``ValueError`` subclass. Anything else is a contract breach.
Inputs are raw bytes, seeds (valid documents written by hubsnap's own code) mutated byte-wise,
and seeds whose parsed structure has a subtree replaced by a hostile value. The quick profile
(``tests/test_fuzz_parsers.py``) drives these with hypothesis; ``scripts/fuzz.py`` runs the
long profile with a seeded random generator.
"""

from __future__ import annotations

import base64
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hubsnap.canonical import canonical_json, loads_object
from hubsnap.config import parse_duration
from hubsnap.digest import Digest
from hubsnap.documents import InvalidDocument, dump_yaml, load_json, load_yaml
from hubsnap.errors import HubsnapError, IntegrityError, RemoteError
from hubsnap.hub import _parse_siblings, hub_timestamp
from hubsnap.hublist import _parse_listed
from hubsnap.models import (
    ARTIFACT_TYPE_MODEL,
    MEDIA_TYPE_IMAGE_INDEX,
    MEDIA_TYPE_IMAGE_MANIFEST,
    MEDIA_TYPE_MODEL_CONFIG,
    MEDIA_TYPE_MODEL_WEIGHT,
    Descriptor,
    Index,
    Manifest,
)
from hubsnap.oci.auth import _decode_auth, load_credentials
from hubsnap.oci.reference import parse_reference
from hubsnap.retry import parse_retry_after
from hubsnap.signing.dsse import STATEMENT_TYPE, open_envelope, parse_bundle, sign_statement
from hubsnap.signing.keys import load_private_key, load_public_key
from hubsnap.signing.oms import OmsStatement
from hubsnap.signing.policy import load_policy
from hubsnap.signing.provenance import Provenance
from hubsnap.snapshot import (
    Selection,
    SnapshotDocument,
    SnapshotFile,
    parse_card,
    read_artifact_reference,
)
from hubsnap.values import InvalidValue, parse_int, parse_timestamp
from support.keys import FIXED_KEY, FIXED_PUB

__all__ = ["TARGETS", "Breach", "Target", "check", "mutate"]

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
HEX = "0123456789abcdef" * 4
DIGEST = Digest.sha256(HEX)
WEEK = 7 * 86400.0


class Breach(AssertionError):
    """A parser broke its contract on an input."""


@dataclass(frozen=True)
class Target:
    """One parser: ``run(data, scratch)`` feeds it; ``exit_codes`` it may raise; seeds."""

    name: str
    run: Callable[[bytes, Path], None]
    exit_codes: frozenset[int]
    seeds: tuple[bytes, ...]
    neutral: type[Exception] | None = None
    structured: bool = True
    #: Inputs every run tries first: the ones the issue reports as crashing.
    hostile: tuple[bytes, ...] = ()


def check(target: Target, data: bytes, scratch: Path) -> str:
    """Run ``target`` on ``data``; return ``ok`` or the refusal's class. :class:`Breach` else."""
    try:
        target.run(data, scratch)
    except HubsnapError as e:
        if int(e.exit_code) not in target.exit_codes or "\n" in e.message:
            raise Breach(f"{target.name}: exit {int(e.exit_code)} {e.message!r}") from e
        return type(e).__name__
    except Breach:
        raise
    except Exception as e:
        if target.neutral is not None and isinstance(e, target.neutral) and "\n" not in str(e):
            return type(e).__name__
        raise Breach(f"{target.name}: {type(e).__name__}: {str(e)[:200]}") from e
    return "ok"


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


def _manifest_seed() -> bytes:
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


def _index_seed() -> bytes:
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


def _bundle_seed() -> bytes:
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "model", "digest": {"sha256": HEX}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {"resources": [{"name": "a", "digest": HEX, "algorithm": "sha256"}]},
    }
    return sign_statement(_Statement(statement), load_private_key(FIXED_KEY)).to_bytes()


def _policy_seed() -> bytes:
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


def _snapshot_seed() -> bytes:
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


def _docker_seeds() -> tuple[bytes, ...]:
    auth = base64.b64encode(b"user:pass").decode()
    return (
        json.dumps({"auths": {"registry.example.com": {"auth": auth}}}).encode(),
        json.dumps({"auths": {"https://registry.example.com": {"identitytoken": "t"}}}).encode(),
        json.dumps(
            {"auths": {"registry.example.com": {"username": "u", "password": "p"}}}
        ).encode(),
    )


_CARD = (
    b"---\nlicense: mit\nbase_model: [org/base]\nbase_model_relation: finetune\n"
    b"datasets: [a, b]\ndate: 2024-01-01\nmodel-index:\n- name: x\n  results: []\n---\n# Card\n"
)
_HUB = (
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


# -- how each parser is fed -----------------------------------------------------------------


def _text(data: bytes) -> str:
    # Invalid UTF-8 becomes lone surrogates, as in a command line or an environment variable.
    return data.decode("utf-8", "surrogateescape")


def _reference(data: bytes, scratch: Path) -> None:
    reference = parse_reference(_text(data), store=scratch / "store")
    str(reference)


def _manifest(data: bytes, scratch: Path) -> None:
    manifest = Manifest.from_bytes(data)
    if Manifest.from_bytes(manifest.to_bytes()) != manifest:
        raise Breach("manifest: re-encoding changes it")


def _index(data: bytes, scratch: Path) -> None:
    index = Index.from_bytes(data)
    for entry in index.manifests:
        canonical_json(entry.to_json())


def _json(data: bytes, scratch: Path) -> None:
    canonical_json(loads_object(data, "document"))


def _yaml(data: bytes, scratch: Path) -> None:
    value = load_yaml(data, "document")
    canonical_json(value)
    if load_yaml(dump_yaml(value), "again") != value:
        raise Breach("yaml: dump and load change the value")


def _write(scratch: Path, name: str, data: bytes) -> Path:
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / name
    path.write_bytes(data)
    return path


def _policy(data: bytes, scratch: Path) -> None:
    load_policy(_write(scratch, "policy.yaml", data))


def _snapshot(data: bytes, scratch: Path) -> None:
    from hubsnap.api.signing import snapshot_revision

    path = _write(scratch, "snapshot.yaml", data)
    refusal: HubsnapError | None = None
    try:
        read_artifact_reference(path)
    except HubsnapError as e:
        refusal = e  # the second reader must hold to the contract too
    snapshot_revision(path, DIGEST)
    if refusal is not None:
        raise refusal


def _docker_config(data: bytes, scratch: Path) -> None:
    _write(scratch / "docker", "config.json", data)
    load_credentials(scratch / "docker", "registry.example.com")


def _docker_auth(data: bytes, scratch: Path) -> None:
    _decode_auth(_text(data), "registry.example.com")


def _bundle(data: bytes, scratch: Path) -> None:
    bundle = parse_bundle(data)
    bundle.to_bytes()
    opened = open_envelope(bundle.envelope, [load_public_key(FIXED_PUB)])
    canonical_json(opened.statement)


def _statement(data: bytes, scratch: Path) -> None:
    # What verify does with a payload whose signature checked out: the typed readers.
    try:
        value = loads_object(data, "signed statement")
    except ValueError as e:
        raise IntegrityError(str(e)) from e
    try:
        OmsStatement.from_json(value)
    except HubsnapError:
        Provenance.from_json(value)  # a statement is one or the other


def _golden(*names: str) -> tuple[bytes, ...]:
    return tuple((GOLDEN / name).read_bytes() for name in names)


def _card(data: bytes, scratch: Path) -> None:
    meta = parse_card(data)
    if not isinstance(meta, dict):
        raise Breach("card: front matter is not a mapping")
    canonical_json(meta)


def _hub(data: bytes, scratch: Path) -> None:
    # What the Hub client does with an answer: bounded JSON, then the typed readers.
    try:
        value = load_json(data, "Hub answer")
    except InvalidDocument as e:
        raise RemoteError(str(e)) from e
    if isinstance(value, dict):
        siblings = value.get("siblings")
        if isinstance(siblings, list):
            _parse_siblings(siblings, "org/model")
        hub_timestamp(value.get("lastModified"))
    elif isinstance(value, list):
        for item in value:
            _parse_listed(item)


def _retry_after(data: bytes, scratch: Path) -> None:
    seconds = parse_retry_after(_text(data), now=1.7e9)
    if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
        raise Breach(f"retry-after: {seconds!r} seconds")


def _duration(data: bytes, scratch: Path) -> None:
    seconds = parse_duration(_text(data))
    if not 0 < seconds <= WEEK:
        raise Breach(f"duration: {seconds!r}")


def _integer(data: bytes, scratch: Path) -> None:
    value = parse_int(_text(data), minimum=-(2**63), maximum=2**63 - 1)
    if not -(2**63) <= value < 2**63:
        raise Breach(f"integer: {value}")


def _timestamp(data: bytes, scratch: Path) -> None:
    moment = parse_timestamp(_text(data))
    if moment.tzinfo is not UTC or not 1970 <= moment.year <= 9999:
        raise Breach(f"timestamp: {moment!r}")
    moment.timestamp()
    datetime.fromtimestamp(moment.timestamp(), UTC)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "reference",
            _reference,
            frozenset({2}),
            (
                b"localhost:5000/org/model:v1",
                b"registry.example.com/a/b@" + str(DIGEST).encode(),
                b"oci:/tmp/x:tag",
                b"oci:rel/path@" + str(DIGEST).encode(),
                str(DIGEST).encode(),
                b"[::1]:5000/a/b_c--d:latest",
            ),
            structured=False,
        ),
        Target(
            "manifest",
            _manifest,
            frozenset({6}),
            (_manifest_seed(), *_golden("modelpack/manifest.json")),
        ),
        Target(
            "index",
            _index,
            frozenset({6}),
            (_index_seed(), *_golden("signing/referrers-index.json")),
        ),
        Target("json", _json, frozenset(), (_manifest_seed(), _index_seed()), InvalidDocument),
        Target("yaml", _yaml, frozenset(), (_policy_seed(), _snapshot_seed()), InvalidDocument),
        Target("policy", _policy, frozenset({2, 3}), (_policy_seed(),)),
        Target("snapshot", _snapshot, frozenset({2}), (_snapshot_seed(),)),
        Target("docker-config", _docker_config, frozenset({2, 4}), _docker_seeds()),
        Target(
            "docker-auth",
            _docker_auth,
            frozenset({2}),
            (base64.b64encode(b"user:pa:ss"), base64.b64encode("ü:é".encode())),
            structured=False,
            hostile=("é".encode(), base64.b64encode(b"\xff:x")),
        ),
        Target(
            "bundle",
            _bundle,
            frozenset({6}),
            (_bundle_seed(), *_golden("signing/oms-bundle-signed.json")),
        ),
        Target(
            "statement",
            _statement,
            frozenset({6}),
            _golden("signing/oms-statement.json", "signing/provenance-statement.json"),
        ),
        Target("card", _card, frozenset(), (_CARD,)),
        Target(
            "hub",
            _hub,
            frozenset({5, 6}),
            _HUB,
            hostile=(
                b'{"lastModified": "0001-01-01T00:00:00+01:00"}',
                b'[{"id": "a/b", "createdAt": "9999-12-31T23:59:59-01:00"}]',
            ),
        ),
        Target(
            "retry-after",
            _retry_after,
            frozenset(),
            (b"120", b"0", b"Wed, 21 Oct 2015 07:28:00 GMT"),
            structured=False,
            hostile=("²".encode(), b"9" * 400, b"Mon, 01 Jan 0001 00:00:00 +0100"),
        ),
        Target(
            "duration",
            _duration,
            frozenset({2}),
            (b"30s", b"500ms", b"1.5m", b"2h", b"7d", b"45"),
            structured=False,
            hostile=("²d".encode(), b"9" * 400, b"1e308s"),
        ),
        Target(
            "integer", _integer, frozenset(), (b"42", b"-7", b"+0"), InvalidValue, structured=False
        ),
        Target(
            "timestamp",
            _timestamp,
            frozenset(),
            (b"2024-06-01T12:00:00Z", b"2024-06-01T12:00:00.123456789+02:00"),
            InvalidValue,
            structured=False,
        ),
    )
}
