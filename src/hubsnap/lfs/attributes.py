"""Which paths ``.gitattributes`` files route through the LFS filter, as git decides it.

git reads every ``.gitattributes`` from the root down; within a file later lines win, and a
deeper file wins over a shallower one. A pattern without a slash matches a file's name at any
depth below its file; one with a slash is matched against the path relative to its file, with
``*`` stopping at slashes and ``**`` crossing them. A pattern for directories (trailing ``/``)
never matches a file, and negative patterns are not allowed. ``filter=lfs`` routes a path to
LFS; ``filter=OTHER``, ``-filter``, ``!filter`` or a bare ``filter`` take it out again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = ["LfsAttributes"]

_FILE_NAME = ".gitattributes"


def _wildmatch(pattern: str) -> re.Pattern[str]:
    """A regular expression matching what git's wildmatch matches with FNM_PATHNAME."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            before_ok = i == 0 or pattern[i - 1] == "/"
            after = pattern[i + 2 : i + 3]
            if before_ok and after == "/":
                out.append("(?:.*/)?")
                i += 3
                continue
            if before_ok and after == "":
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end < 0:
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            escaped = "".join("\\" + ch if ch in "\\^[]" else ch for ch in body)
            out.append(f"[{'^/' if negate else ''}{escaped}]")
            i = end + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.DOTALL)


@dataclass(frozen=True)
class _Rule:
    anchored: bool
    regex: re.Pattern[str]
    lfs: bool

    def matches(self, relative: str) -> bool:
        subject = relative if self.anchored else PurePosixPath(relative).name
        return self.regex.fullmatch(subject) is not None


def _filter_decision(attributes: list[str]) -> bool | None:
    """``True``/``False`` if the line sets or unsets LFS routing, ``None`` if silent on it."""
    decision = None
    for attribute in attributes:
        name, _, value = attribute.lstrip("-!").partition("=")
        if name != "filter":
            continue
        decision = attribute == "filter=lfs" or (
            not attribute.startswith(("-", "!")) and value == "lfs"
        )
    return decision


def _rules(text: str) -> list[_Rule]:
    rules = []
    for raw in text.splitlines():
        parts = raw.split()
        if not parts or parts[0].startswith("#") or parts[0].startswith("[attr]"):
            continue
        pattern, attributes = parts[0], parts[1:]
        decision = _filter_decision(attributes)
        if decision is None or pattern.startswith("!") or pattern.endswith("/"):
            continue
        anchored = "/" in pattern
        regex = _wildmatch(pattern.removeprefix("/"))
        rules.append(_Rule(anchored, regex, decision))
    return rules


class LfsAttributes:
    """The LFS routing of a tree's ``.gitattributes`` files (keyed by their own path)."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        tables = []
        for path, data in files.items():
            directory = path[: -len(_FILE_NAME)].rstrip("/")
            text = data.decode("utf-8", "replace")
            tables.append((directory, _rules(text)))
        # Shallow files first: a deeper file's lines come later and so win.
        self._tables = sorted(tables, key=lambda t: (t[0].count("/") + bool(t[0]), t[0]))

    @staticmethod
    def is_attributes_file(path: str) -> bool:
        return PurePosixPath(path).name == _FILE_NAME

    def __bool__(self) -> bool:
        return bool(self._tables)

    def routes_to_lfs(self, path: str) -> bool:
        decision = False
        for directory, rules in self._tables:
            if directory and not path.startswith(directory + "/"):
                continue
            relative = path[len(directory) + 1 :] if directory else path
            for rule in rules:
                if rule.matches(relative):
                    decision = rule.lfs
        return decision
