"""Git LFS pointer files: the one canonical writer and a strict reader.

The reader gives the verdicts git-lfs itself gives (``git lfs pointer --check --strict``):
*canonical* (the bytes git-lfs would write), *valid but not canonical* (git-lfs reads it, but
would write other bytes: no final newline, CRLF, a leading zero or sign in the size, an old
version URL, blank lines or surrounding whitespace, extensions out of order) and *invalid*
(anything git-lfs refuses: uppercase hex, unsorted or unknown keys, two spaces, trailing space
inside a value, a short oid, a negative size, another hash than ``sha256``). It is stricter than
git-lfs in one way, as the spec demands: a pointer must be UTF-8 without NUL bytes, where
git-lfs would let such bytes through inside an extension name. A blob of
:data:`POINTER_SIZE_LIMIT` bytes or more is never a pointer (git-lfs's own cutoff for blobs).

The empty file is the canonical pointer of the empty object, as in git-lfs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "EMPTY_SHA256",
    "POINTER_SIZE_LIMIT",
    "SPEC_URL",
    "Pointer",
    "PointerCheck",
    "PointerExtension",
    "Verdict",
    "check_pointer",
    "encode_pointer",
    "parse_pointer",
]

SPEC_URL = "https://git-lfs.github.com/spec/v1"
#: Version URLs git-lfs still reads: the alpha and pre-release names, and the public one.
_VERSION_ALIASES = frozenset(
    {"http://git-media.io/v/2", "https://hawser.github.com/spec/v1", SPEC_URL}
)
#: A blob this large or larger is not a pointer (git-lfs's ``blobSizeCutoff``).
POINTER_SIZE_LIMIT = 1024
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

_KEYS = ("version", "oid", "size")
_OID = re.compile(r"[0-9a-f]{64}")
_SIZE = re.compile(r"[+-]?[0-9]+")
_EXTENSION_KEY = re.compile(r"ext-[0-9]-[0-9A-Za-z_]")
_INT64_MAX = 2**63 - 1
# What Go's unicode.IsSpace (hence git-lfs's bytes.TrimSpace) counts as white space.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501


class Verdict(Enum):
    """What git-lfs would say of some bytes offered as a pointer."""

    CANONICAL = "canonical"
    NOT_CANONICAL = "valid but not canonical"
    INVALID = "invalid"


@dataclass(frozen=True)
class PointerExtension:
    """An ``ext-PRIORITY-NAME sha256:OID`` line (a clean/smudge extension's input object)."""

    priority: int
    name: str
    oid: str


@dataclass(frozen=True)
class Pointer:
    """A parsed pointer: ``oid`` is the object's SHA-256 as 64 lowercase hex digits."""

    oid: str
    size: int
    extensions: tuple[PointerExtension, ...] = ()

    def encode(self) -> bytes:
        return encode_pointer(self.oid, self.size, self.extensions)


@dataclass(frozen=True)
class PointerCheck:
    """A verdict on some bytes. ``pointer`` is ``None`` exactly when the verdict is invalid,
    and ``reason`` says why the bytes are invalid or not canonical (``None`` when canonical).
    ``mode_mismatch`` is true when the pointer's executable bit and its file's differ."""

    verdict: Verdict
    pointer: Pointer | None
    reason: str | None = None
    mode_mismatch: bool = False

    @property
    def ok(self) -> bool:
        """Canonical, and with the file's executable bit."""
        return self.verdict is Verdict.CANONICAL and not self.mode_mismatch


class _Invalid(ValueError):
    pass


def encode_pointer(oid: str, size: int, extensions: tuple[PointerExtension, ...] = ()) -> bytes:
    """The canonical pointer bytes for an object (the empty file for the empty object)."""
    if not _OID.fullmatch(oid):
        raise ValueError(f"not a lowercase SHA-256 hex digest: {oid!r}")
    if size < 0:
        raise ValueError(f"negative object size {size}")
    if size == 0:
        return b""
    lines = [f"version {SPEC_URL}"]
    lines += [
        f"ext-{e.priority}-{e.name} sha256:{e.oid}"
        for e in sorted(extensions, key=lambda e: e.priority)
    ]
    lines += [f"oid sha256:{oid}", f"size {size}"]
    return ("\n".join(lines) + "\n").encode()


def _lines(text: str) -> list[str]:
    """Lines as Go's line scanner yields them: split on LF, one trailing CR dropped."""
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    return [p.removesuffix("\r") for p in parts]


def _oid(value: str) -> str:
    kind, sep, oid = value.partition(":")
    if not sep:
        raise _Invalid(f"oid {value!r} names no hash algorithm")
    if kind != "sha256":
        raise _Invalid(f"oid hash algorithm {kind!r} is not sha256")
    if not _OID.fullmatch(oid):
        raise _Invalid(f"oid {oid!r} is not 64 lowercase hex digits")
    return oid


def _size(value: str) -> int:
    if not _SIZE.fullmatch(value) or not -_INT64_MAX - 1 <= int(value) <= _INT64_MAX:
        raise _Invalid(f"size {value!r} is not a 64-bit decimal integer")
    size = int(value)
    if size < 0:
        raise _Invalid(f"size {value!r} is negative")
    return size


def _decode(text: str) -> Pointer:
    values: dict[str, str] = {}
    extensions: dict[str, str] = {}
    for line in _lines(text.strip(_GO_SPACE)):
        if not line:
            continue
        key, sep, value = line.partition(" ")
        if not sep:
            raise _Invalid(f"line {line[:40]!r} has no value")
        if len(values) >= len(_KEYS):
            raise _Invalid(f"extra line after size: {line[:40]!r}")
        expected = _KEYS[len(values)]
        if key == expected:
            values[key] = value
        elif _EXTENSION_KEY.match(key):
            extensions[key] = value
        else:
            raise _Invalid(f"expected key {expected!r}, found {key[:40]!r}")
    if "version" not in values:
        raise _Invalid("no version line")
    if values["version"] not in _VERSION_ALIASES:
        raise _Invalid(f"unknown version {values['version'][:60]!r}")
    if "oid" not in values:
        raise _Invalid("no oid line")
    oid = _oid(values["oid"])
    size = _size(values.get("size", ""))
    parsed = []
    for key, value in extensions.items():
        _, priority, name = key.split("-", 2)
        parsed.append(PointerExtension(int(priority), name, _oid(value)))
    if len({e.priority for e in parsed}) != len(parsed):
        raise _Invalid("two extensions share a priority")
    return Pointer(oid, size, tuple(sorted(parsed, key=lambda e: e.priority)))


def check_pointer(
    data: bytes, *, executable: bool | None = None, file_executable: bool | None = None
) -> PointerCheck:
    """git-lfs's verdict on ``data``; never raises, whatever the bytes.

    ``executable`` (the pointer's tree entry mode) and ``file_executable`` (the file it stands
    for), when both given, set ``mode_mismatch`` if they differ.
    """
    mismatch = executable is not None and file_executable is not None
    mismatch = mismatch and executable != file_executable
    if len(data) >= POINTER_SIZE_LIMIT:
        return PointerCheck(Verdict.INVALID, None, f"{len(data)} bytes: too large", mismatch)
    if not data:
        return PointerCheck(Verdict.CANONICAL, Pointer(EMPTY_SHA256, 0), None, mismatch)
    if b"\0" in data:
        return PointerCheck(Verdict.INVALID, None, "contains a NUL byte", mismatch)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return PointerCheck(Verdict.INVALID, None, "not UTF-8", mismatch)
    try:
        pointer = _decode(text)
    except _Invalid as e:
        return PointerCheck(Verdict.INVALID, None, str(e), mismatch)
    if pointer.encode() != data:
        return PointerCheck(
            Verdict.NOT_CANONICAL, pointer, "differs from the canonical encoding", mismatch
        )
    return PointerCheck(Verdict.CANONICAL, pointer, None, mismatch)


def parse_pointer(data: bytes) -> Pointer | None:
    """The pointer ``data`` holds if git-lfs would read it as one, else ``None``."""
    return check_pointer(data).pointer
