"""The Hub's webhook payload (version 3), parsed from the raw JSON with hubsnap's own model.

``huggingface_hub``'s model names the head field ``head_sha`` and so loses the Hub's
``headSha``; this one keeps every field the server uses and nothing else. Parsing is bounded:
the body is at most :data:`MAX_BODY` bytes (the caller reads it with that cap) and goes
through hubsnap's bounded JSON loader (depth, duplicate keys, number sizes); at most
:data:`MAX_REFS` updated refs are accepted. Every failure is a :class:`PayloadError`; an
unknown scope parses (it is an event to ignore, not an error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubsnap.documents import InvalidDocument, load_json_object

__all__ = [
    "KNOWN_SCOPES",
    "MAX_BODY",
    "MAX_REFS",
    "PayloadError",
    "PayloadRepo",
    "UpdatedRef",
    "WebhookPayload",
    "parse_payload",
]

MAX_BODY = 1024 * 1024
MAX_REFS = 1000
KNOWN_SCOPES = frozenset(
    {"repo", "repo.content", "repo.config", "discussion", "discussion.comment"}
)
_MAX_TEXT = 4096


class PayloadError(ValueError):
    """The body is not a webhook payload hubsnap understands (the reason is for logs)."""


@dataclass(frozen=True)
class UpdatedRef:
    """One ref the event moved: ``new_sha`` ``None`` means the ref was deleted."""

    ref: str
    old_sha: str | None
    new_sha: str | None


@dataclass(frozen=True)
class PayloadRepo:
    """The repository the event is about."""

    type: str
    name: str
    id: str | None
    private: bool
    head_sha: str | None
    url_web: str | None


@dataclass(frozen=True)
class WebhookPayload:
    """An event: ``scope`` may be one hubsnap does not know (see :attr:`known_scope`)."""

    action: str
    scope: str
    repo: PayloadRepo
    updated_refs: tuple[UpdatedRef, ...]
    webhook_id: str | None
    webhook_version: int | None

    @property
    def known_scope(self) -> bool:
        return self.scope in KNOWN_SCOPES


def _text(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise PayloadError(f"{where}.{key} is not a string")
    return value


def _object(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"{where}.{key} is not an object")
    return value


def _repo(data: dict[str, Any]) -> PayloadRepo:
    repo = _object(data, "repo", "payload")
    url = repo.get("url")
    web = url.get("web") if isinstance(url, dict) else None
    private = repo.get("private", False)
    if not isinstance(private, bool):
        raise PayloadError("repo.private is not a boolean")
    return PayloadRepo(
        type=str(_text(repo, "type", "repo")),
        name=str(_text(repo, "name", "repo")),
        id=_text(repo, "id", "repo", required=False),
        private=private,
        head_sha=_text(repo, "headSha", "repo", required=False),
        url_web=web if isinstance(web, str) and len(web) <= _MAX_TEXT else None,
    )


def _refs(data: dict[str, Any]) -> tuple[UpdatedRef, ...]:
    items = data.get("updatedRefs", [])
    if items is None:
        return ()
    if not isinstance(items, list) or len(items) > MAX_REFS:
        raise PayloadError("updatedRefs is not a list of at most 1000 refs")
    refs = []
    for item in items:
        if not isinstance(item, dict):
            raise PayloadError("updatedRefs holds a non-object")
        refs.append(
            UpdatedRef(
                ref=str(_text(item, "ref", "updatedRefs[]")),
                old_sha=_text(item, "oldSha", "updatedRefs[]", required=False),
                new_sha=_text(item, "newSha", "updatedRefs[]", required=False),
            )
        )
    return tuple(refs)


def parse_payload(body: bytes) -> WebhookPayload:
    """Parse a delivery's body; raises :class:`PayloadError` and nothing else."""
    try:
        data = load_json_object(body, "webhook payload", max_bytes=MAX_BODY)
    except InvalidDocument as e:
        raise PayloadError(str(e)) from e
    event = _object(data, "event", "payload")
    hook = data.get("webhook")
    hook = hook if isinstance(hook, dict) else {}
    hook_id = hook.get("id")
    version = hook.get("version")
    return WebhookPayload(
        action=str(_text(event, "action", "event")),
        scope=str(_text(event, "scope", "event")),
        repo=_repo(data),
        updated_refs=_refs(data),
        webhook_id=hook_id if isinstance(hook_id, str) and len(hook_id) <= _MAX_TEXT else None,
        webhook_version=version if type(version) is int else None,
    )
