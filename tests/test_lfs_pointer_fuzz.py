"""Fuzzed pointer-like bytes: hubsnap's verdict equals ``git lfs pointer --check --strict``'s."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

from hubsnap.lfs.pointer import SPEC_URL, Verdict, check_pointer

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs not installed"),
]

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
KEYS = ["version", "oid", "size", "ext-0-a", "ext-1-b", "ext-0-b", "ext-12-c", "Oid", "zz", ""]
VALUES = [
    SPEC_URL, "https://hawser.github.com/spec/v1", "http://git-media.io/v/2", SPEC_URL + " ",
    f"sha256:{OID}", f"sha256:{OID.upper()}", f"sha256:{OID[:63]}", f"sha1:{OID[:40]}", OID,
    "12345", "0", "-0", "+7", "007", "-1", "9223372036854775808", " 5", "5 ", "", "x",
]  # fmt: skip
SEPARATORS = [" ", "  ", "\t", ""]
ENDINGS = ["\n", "\r\n", "\r", "\n\n", " \n", ""]
PADDING = ["", " ", "\n", "\u00a0", "\t\n", "\u2028"]


@st.composite
def pointer_like(draw: st.DrawFn) -> bytes:
    """A canonical pointer (maybe with extensions) with up to three mutations applied."""
    lines = [["version", " ", SPEC_URL, "\n"]]
    for priority in draw(st.lists(st.sampled_from("012"), max_size=2)):
        lines.append([f"ext-{priority}-x", " ", f"sha256:{OID}", "\n"])
    lines += [["oid", " ", f"sha256:{OID}", "\n"], ["size", " ", "12345", "\n"]]
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.integers(0, 6))
        if kind <= 3:
            pool = (KEYS, SEPARATORS, VALUES, ENDINGS)[kind]
            lines[at][kind] = draw(st.sampled_from(pool))
        elif kind == 4 and len(lines) > 1:
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == 5:
            del lines[at]
            if not lines:
                break
        else:
            extra = [draw(st.sampled_from(pool)) for pool in (KEYS, SEPARATORS, VALUES, ENDINGS)]
            lines.insert(at, extra)
    body = "".join("".join(line) for line in lines)
    text = draw(st.sampled_from(PADDING)) + body + draw(st.sampled_from(PADDING))
    return text.encode()


def git_lfs(data: bytes) -> Verdict:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "pointer"
        path.write_bytes(data)
        code = subprocess.run(
            ["git", "lfs", "pointer", "--check", "--strict", "--file", str(path)],
            capture_output=True,
            check=False,
        ).returncode
    return {0: Verdict.CANONICAL, 2: Verdict.NOT_CANONICAL, 1: Verdict.INVALID}[code]


@hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
@hypothesis.given(pointer_like())
def test_structured_fuzz_agrees_with_git_lfs(data: bytes) -> None:
    assert check_pointer(data).verdict is git_lfs(data), data


@hypothesis.settings(max_examples=200, deadline=None, derandomize=True)
@hypothesis.given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    check = check_pointer(data)
    if b"\0" in data or not _utf8(data):
        assert check.verdict is Verdict.INVALID
    else:
        assert check.verdict is git_lfs(data), data


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
