"""LFS pointer verdicts, each checked against ``git lfs pointer --check --strict`` itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hubsnap.lfs.pointer import (
    EMPTY_SHA256,
    POINTER_SIZE_LIMIT,
    SPEC_URL,
    PointerExtension,
    Verdict,
    check_pointer,
    encode_pointer,
    parse_pointer,
)

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
VL = f"version {SPEC_URL}\n".encode()
OL = f"oid sha256:{OID}\n".encode()
CANON = VL + OL + b"size 12345\n"

needs_git_lfs = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs not installed")

CANONICAL, NOT_CANONICAL, INVALID = Verdict.CANONICAL, Verdict.NOT_CANONICAL, Verdict.INVALID

CASES: dict[str, tuple[bytes, Verdict]] = {
    "canonical": (CANON, CANONICAL),
    "empty file": (b"", CANONICAL),
    "no final newline": (CANON[:-1], NOT_CANONICAL),
    "crlf": (CANON.replace(b"\n", b"\r\n"), NOT_CANONICAL),
    "one crlf line": (VL + OL.replace(b"\n", b"\r\n") + b"size 12345\n", NOT_CANONICAL),
    "leading-zero size": (VL + OL + b"size 012345\n", NOT_CANONICAL),
    "plus-signed size": (VL + OL + b"size +12345\n", NOT_CANONICAL),
    "minus zero size": (VL + OL + b"size -0\n", NOT_CANONICAL),
    "hawser url": (CANON.replace(b"git-lfs.github.com", b"hawser.github.com"), NOT_CANONICAL),
    "git-media url": (b"version http://git-media.io/v/2\n" + OL + b"size 1\n", NOT_CANONICAL),
    "trailing blank line": (CANON + b"\n", NOT_CANONICAL),
    "leading blank line": (b"\n" + CANON, NOT_CANONICAL),
    "blank line inside": (VL + b"\n" + OL + b"size 12345\n", NOT_CANONICAL),
    "trailing space after size": (CANON[:-1] + b" \n", NOT_CANONICAL),
    "leading nbsp": ("\u00a0".encode() + CANON, NOT_CANONICAL),
    "size zero with oid": (
        VL + f"oid sha256:{EMPTY_SHA256}\n".encode() + b"size 0\n",
        NOT_CANONICAL,
    ),
    "extension": (VL + f"ext-0-foo sha256:{OID}\n".encode() + OL + b"size 1\n", CANONICAL),
    "extension after oid": (
        VL + OL + f"ext-0-foo sha256:{OID}\n".encode() + b"size 1\n",
        NOT_CANONICAL,
    ),
    "extensions unsorted": (
        VL + f"ext-1-b sha256:{OID}\next-0-a sha256:{OID}\n".encode() + OL + b"size 1\n",
        NOT_CANONICAL,
    ),
    "extension priorities clash": (
        VL + f"ext-0-b sha256:{OID}\next-0-a sha256:{OID}\n".encode() + OL + b"size 1\n",
        INVALID,
    ),
    "extension bad oid": (VL + b"ext-0-foo sha256:abc\n" + OL + b"size 1\n", INVALID),
    "extension two-digit priority": (
        VL + f"ext-10-a sha256:{OID}\n".encode() + OL + b"size 1\n",
        INVALID,
    ),
    "uppercase hex": (VL + OL.upper().replace(b"OID SHA256", b"oid sha256") + b"size 1\n", INVALID),
    "unsorted keys": (VL + b"size 12345\n" + OL, INVALID),
    "unknown key last": (CANON + b"zzz foo\n", INVALID),
    "unknown key first": (VL + b"foo bar\n" + OL + b"size 1\n", INVALID),
    "duplicate oid": (VL + OL + OL + b"size 1\n", INVALID),
    "two spaces": (VL + OL.replace(b"oid ", b"oid  ") + b"size 1\n", INVALID),
    "trailing space in oid": (VL + OL[:-1] + b" \n" + b"size 1\n", INVALID),
    "tab separator": (VL + OL.replace(b"oid ", b"oid\t") + b"size 1\n", INVALID),
    "short oid": (VL + f"oid sha256:{OID[:60]}\n".encode() + b"size 1\n", INVALID),
    "long oid": (VL + f"oid sha256:{OID}00\n".encode() + b"size 1\n", INVALID),
    "negative size": (VL + OL + b"size -1\n", INVALID),
    "size overflow": (VL + OL + b"size 9223372036854775808\n", INVALID),
    "size int64 max": (VL + OL + b"size 9223372036854775807\n", CANONICAL),
    "no size": (VL + OL, INVALID),
    "sha1 oid": (VL + f"oid sha1:{OID[:40]}\n".encode() + b"size 1\n", INVALID),
    "no version": (OL + b"size 1\n", INVALID),
    "version v2": (CANON.replace(b"spec/v1", b"spec/v2"), INVALID),
    "uppercase key": (VL + OL.replace(b"oid", b"Oid") + b"size 1\n", INVALID),
    "carriage returns only": (CANON.replace(b"\n", b"\r"), INVALID),
    "whitespace only": (b" \n\n", INVALID),
    "nul in size": (VL + OL + b"size 1\x00\n", INVALID),
    "nul after pointer": (CANON + b"\x00", INVALID),
    "latin-1 in size": (VL + OL + b"size 1\xe9\n", INVALID),
    "plain text": (b"hello world\n", INVALID),
}


def git_lfs_verdict(data: bytes, tmp_path: Path) -> Verdict:
    path = tmp_path / "pointer"
    path.write_bytes(data)
    code = subprocess.run(
        ["git", "lfs", "pointer", "--check", "--strict", "--file", str(path)],
        capture_output=True,
        check=False,
    ).returncode
    return {0: CANONICAL, 2: NOT_CANONICAL, 1: INVALID}[code]


@pytest.mark.parametrize("name", list(CASES))
def test_verdict(name: str) -> None:
    data, expected = CASES[name]
    check = check_pointer(data)
    assert check.verdict is expected, check.reason
    assert (check.pointer is None) == (expected is INVALID)
    assert (check.reason is None) == (expected is CANONICAL)


@pytest.mark.interop
@needs_git_lfs
@pytest.mark.parametrize("name", list(CASES))
def test_verdict_agrees_with_git_lfs(name: str, tmp_path: Path) -> None:
    data, expected = CASES[name]
    assert git_lfs_verdict(data, tmp_path) is expected


def test_stricter_than_git_lfs_only_on_bytes_the_spec_forbids(tmp_path: Path) -> None:
    # git-lfs lets any bytes through after an extension name's first word character; the
    # spec says a pointer is UTF-8 text, and hubsnap holds to that.
    for junk in (b"\xff", b"\x00"):
        data = VL + b"ext-0-a" + junk + f" sha256:{OID}\n".encode() + OL + b"size 1\n"
        assert check_pointer(data).verdict is INVALID
        if shutil.which("git-lfs"):
            assert git_lfs_verdict(data, tmp_path) is CANONICAL


def test_size_limit() -> None:
    padded = CANON + b" " * (POINTER_SIZE_LIMIT - len(CANON) - 1)
    assert check_pointer(padded).verdict is NOT_CANONICAL
    check = check_pointer(padded + b" ")
    assert check.verdict is INVALID
    assert check.reason == f"{POINTER_SIZE_LIMIT} bytes: too large"
    assert check_pointer(b"x" * 10_000_000).verdict is INVALID


def test_encode_round_trip() -> None:
    assert encode_pointer(OID, 12345) == CANON
    assert encode_pointer(EMPTY_SHA256, 0) == b""
    extension = PointerExtension(0, "foo", OID)
    data = encode_pointer(OID, 1, (extension,))
    pointer = parse_pointer(data)
    assert pointer is not None
    assert pointer.extensions == (extension,)
    assert pointer.encode() == data
    with pytest.raises(ValueError, match="lowercase"):
        encode_pointer(OID.upper(), 1)
    with pytest.raises(ValueError, match="negative"):
        encode_pointer(OID, -1)


@pytest.mark.interop
@needs_git_lfs
def test_encode_matches_git_lfs(tmp_path: Path) -> None:
    for content in (b"x", b"hello\n" * 1000):
        path = tmp_path / "file"
        path.write_bytes(content)
        produced = subprocess.run(
            ["git", "lfs", "pointer", "--file", str(path)], capture_output=True, check=True
        ).stdout
        import hashlib

        assert encode_pointer(hashlib.sha256(content).hexdigest(), len(content)) == produced


def test_executable_bit_mismatch_is_flagged() -> None:
    assert check_pointer(CANON, executable=True, file_executable=False).mode_mismatch
    assert check_pointer(CANON, executable=False, file_executable=True).mode_mismatch
    same = check_pointer(CANON, executable=True, file_executable=True)
    assert same.ok and not same.mode_mismatch
    assert not check_pointer(CANON, executable=True, file_executable=False).ok
    assert not check_pointer(CANON).mode_mismatch
