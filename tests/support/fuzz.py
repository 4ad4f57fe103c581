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
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hubsnap.api.signing import snapshot_revision
from hubsnap.canonical import canonical_json, loads_object
from hubsnap.config import parse_duration
from hubsnap.diff.safetensors import parse_header
from hubsnap.documents import InvalidDocument, dump_yaml, load_yaml
from hubsnap.errors import HubsnapError, IntegrityError
from hubsnap.hub import _parse_json
from hubsnap.hublist import _parse_listed
from hubsnap.hubtypes import hub_timestamp, parse_siblings
from hubsnap.lfs.pointer import check_pointer, encode_pointer
from hubsnap.like.card import read_card
from hubsnap.models import (
    Index,
    Manifest,
)
from hubsnap.oci.auth import _decode_auth, load_credentials
from hubsnap.oci.reference import parse_reference
from hubsnap.retry import parse_retry_after
from hubsnap.serve.payload import PayloadError, parse_payload
from hubsnap.signing.dsse import open_envelope, parse_bundle
from hubsnap.signing.keys import load_public_key
from hubsnap.signing.oms import OmsStatement
from hubsnap.signing.policy import load_policy
from hubsnap.signing.provenance import Provenance
from hubsnap.snapshot import (
    parse_card,
    read_artifact_reference,
)
from hubsnap.values import InvalidValue, parse_int, parse_timestamp
from support.fuzz_inputs import (
    CARD,
    DIGEST,
    HEX,
    HUB,
    bundle_seed,
    docker_seeds,
    golden,
    index_seed,
    manifest_seed,
    mutate,
    policy_seed,
    snapshot_seed,
)
from support.keys import FIXED_PUB

__all__ = ["TARGETS", "Breach", "Target", "check", "mutate"]

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


def _card(data: bytes, scratch: Path) -> None:
    meta = parse_card(data)
    if not isinstance(meta, dict):
        raise Breach("card: front matter is not a mapping")
    canonical_json(meta)


def _like_card(data: bytes, scratch: Path) -> None:
    # What discover --like takes from a card: text, or a note; never an exception.
    card = read_card(data, limit=64 * 1024)
    if len(card.text) > 64 * 1024:
        raise Breach(f"like-card: {len(card.text)} characters from a 64 KiB card")


def _safetensors(data: bytes, scratch: Path) -> None:
    header = parse_header(data, len(data), "model.safetensors")
    base = header.data_offset  # every accepted tensor lies inside the file
    for name, info in header.tensors.items():
        if not 0 <= info.start <= info.end <= len(data) - base:
            raise Breach(f"safetensors: tensor {name!r} outside the file")


def _webhook(data: bytes, scratch: Path) -> None:
    payload = parse_payload(data)
    canonical_json({"repo": payload.repo.name, "refs": [r.ref for r in payload.updated_refs]})


def _safetensors_seed() -> bytes:
    header = b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}'
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + bytes(8)


WEBHOOK = (
    b'{"event":{"action":"update","scope":"repo.content"},"repo":{"type":"model",'
    b'"name":"acme/tiny","id":"6565656565656565656565aa","private":false,'
    b'"headSha":"' + b"a" * 40 + b'","url":{"web":"https://huggingface.co/acme/tiny"}},'
    b'"updatedRefs":[{"ref":"refs/heads/main","oldSha":"'
    + b"b" * 40
    + b'","newSha":"'
    + b"a" * 40
    + b'"}],"webhook":{"id":"6565656565656565656565ee","version":3}}'
)


def _hub(data: bytes, scratch: Path) -> None:
    # What the Hub client does with an answer: its JSON reader, then the typed readers.
    value = _parse_json(data, "Hub answer")
    if isinstance(value, dict):
        siblings = value.get("siblings")
        if isinstance(siblings, list):
            parse_siblings(siblings, "org/model")
        hub_timestamp(value.get("lastModified"))
    elif isinstance(value, list):
        for item in value:
            _parse_listed(item)


def _lfs_pointer(data: bytes, scratch: Path) -> None:
    # Never raises; what it reads as a pointer must encode again (canonical or not).
    result = check_pointer(data, executable=True, file_executable=False)
    if result.pointer is not None:
        result.pointer.encode()


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
            (manifest_seed(), *golden("modelpack/manifest.json")),
        ),
        Target(
            "index",
            _index,
            frozenset({6}),
            (index_seed(), *golden("signing/referrers-index.json")),
        ),
        Target("json", _json, frozenset(), (manifest_seed(), index_seed()), InvalidDocument),
        Target("yaml", _yaml, frozenset(), (policy_seed(), snapshot_seed()), InvalidDocument),
        Target("policy", _policy, frozenset({2, 3}), (policy_seed(),)),
        Target(
            "snapshot",
            _snapshot,
            frozenset({2}),
            (snapshot_seed(),),
            hostile=(b'{revision: main, artifact: {digest: "a\\nb"}}',),
        ),
        Target("docker-config", _docker_config, frozenset({2, 4}), docker_seeds()),
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
            (bundle_seed(), *golden("signing/oms-bundle-signed.json")),
        ),
        Target(
            "statement",
            _statement,
            frozenset({6}),
            golden("signing/oms-statement.json", "signing/provenance-statement.json"),
        ),
        Target("card", _card, frozenset(), (CARD,)),
        Target(
            "like-card",
            _like_card,
            frozenset(),
            (CARD,),
            structured=False,
            hostile=(b"---\n" + b"[" * 5000 + b"\n---\n", b"\xff\xfe\x00", b"---\n&a [*a]\n---\n"),
        ),
        Target("safetensors", _safetensors, frozenset({6}), (_safetensors_seed(),)),
        Target("webhook", _webhook, frozenset(), (WEBHOOK,), PayloadError),
        Target(
            "hub",
            _hub,
            frozenset({5, 6}),
            HUB,
            hostile=(
                b'{"lastModified": "0001-01-01T00:00:00+01:00"}',
                b'[{"id": "a/b", "createdAt": "9999-12-31T23:59:59-01:00"}]',
            ),
        ),
        Target(
            "lfs-pointer",
            _lfs_pointer,
            frozenset(),
            (encode_pointer(HEX, 12345), encode_pointer(HEX, 0)),
            structured=False,
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
