"""The Hub webhook payload (v3), parsed by hubsnap's own model: every documented scope, the
fields huggingface_hub loses (``headSha``), and nothing but :class:`PayloadError` for any
bytes at all."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from hubsnap.serve.payload import (
    KNOWN_SCOPES,
    MAX_BODY,
    PayloadError,
    UpdatedRef,
    parse_payload,
)

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

HEAD = "a" * 40


def hub_payload(scope: str, **extra: Any) -> dict[str, Any]:
    """A payload shaped as the Hub documents version 3."""
    data: dict[str, Any] = {
        "event": {"action": "update", "scope": scope},
        "repo": {
            "type": "model", "name": "acme/tiny", "id": "6565656565656565656565aa",
            "private": False, "headSha": HEAD,
            "url": {"web": "https://huggingface.co/acme/tiny",
                    "api": "https://huggingface.co/api/models/acme/tiny"},
            "owner": {"id": "6565656565656565656565bb"},
        },
        "webhook": {"id": "6565656565656565656565ee", "version": 3},
    }  # fmt: skip
    return data | extra


SCOPE_EXTRAS: dict[str, dict[str, Any]] = {
    "repo": {},
    "repo.content": {
        "updatedRefs": [{"ref": "refs/heads/main", "oldSha": "b" * 40, "newSha": HEAD}],
        "updatedConfig": None,
    },
    "repo.config": {"updatedConfig": {"private": True}},
    "discussion": {
        "discussion": {
            "id": "x",
            "num": 4,
            "title": "t",
            "isPullRequest": False,
            "status": "open",
            "author": {"id": "y"},
            "url": {"web": "w"},
        },
    },
    "discussion.comment": {
        "discussion": {"id": "x", "num": 4},
        "comment": {"id": "z", "content": "hello", "author": {"id": "y"}},
    },
}


@pytest.mark.parametrize("scope", sorted(KNOWN_SCOPES))
def test_every_documented_scope_parses(scope: str) -> None:
    parsed = parse_payload(json.dumps(hub_payload(scope, **SCOPE_EXTRAS[scope])).encode())
    assert parsed.scope == scope
    assert parsed.known_scope
    assert parsed.repo.name == "acme/tiny"
    assert parsed.repo.head_sha == HEAD  # huggingface_hub's model drops this one
    assert parsed.webhook_version == 3


def test_updated_refs_and_deleted_refs() -> None:
    refs = [
        {"ref": "refs/heads/main", "oldSha": "b" * 40, "newSha": HEAD},
        {"ref": "refs/tags/v1", "oldSha": HEAD, "newSha": None},
    ]
    parsed = parse_payload(json.dumps(hub_payload("repo.content", updatedRefs=refs)).encode())
    assert parsed.updated_refs == (
        UpdatedRef("refs/heads/main", "b" * 40, HEAD),
        UpdatedRef("refs/tags/v1", HEAD, None),
    )


def test_an_unknown_future_scope_is_an_event_not_an_error() -> None:
    parsed = parse_payload(json.dumps(hub_payload("space.hardware")).encode())
    assert parsed.scope == "space.hardware"
    assert not parsed.known_scope


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'{"event": {"action": "update"}}',
        b'{"event": {"action": "update", "scope": "repo"}}',
        b'{"event": {"action": "update", "scope": "repo"}, "repo": {"type": "model"}}',
        json.dumps(hub_payload("repo", updatedRefs={"ref": "x"})).encode(),
        json.dumps(hub_payload("repo", updatedRefs=[{"ref": 5}])).encode(),
        json.dumps(hub_payload("repo", updatedRefs=[{"ref": "r"}] * 1001)).encode(),
        b"[" * 100_000 + b"]" * 100_000,
        b'{"event": {"action": "a", "action": "b", "scope": "repo"}}',
        b"\xff\xfe{}",
    ],
    ids=lambda b: repr(b[:40]),
)
def test_malformed_bodies_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_payload(body)


def test_a_body_over_the_cap_is_refused_before_parsing() -> None:
    body = json.dumps(hub_payload("repo", pad="x" * MAX_BODY)).encode()
    with pytest.raises(PayloadError, match=r"MiB|bytes|large"):
        parse_payload(body)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.binary(max_size=512))
def test_any_bytes_parse_or_raise_payload_error(body: bytes) -> None:
    with contextlib.suppress(PayloadError):
        parse_payload(body)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    st.sampled_from([*sorted(KNOWN_SCOPES), "other"]),
    st.dictionaries(st.sampled_from(["repo", "event", "updatedRefs", "webhook"]), _json),
)
def test_mutated_payloads_parse_or_raise_payload_error(scope: str, changes: dict[str, Any]) -> None:
    try:
        parsed = parse_payload(json.dumps(hub_payload(scope) | changes).encode())
    except PayloadError:
        return
    assert isinstance(parsed.repo.name, str)
    assert all(isinstance(r.ref, str) for r in parsed.updated_refs)
