"""Total parsers for the small values hubsnap reads: integers, durations and timestamps.

Each takes text from anywhere — the command line, a policy, a manifest annotation, a Hub
answer — and returns a value in a sane range or raises :class:`InvalidValue`, a ``ValueError``
whose message names the value. The caller maps it to its exit class: 2 for what the user
typed, 6 for what an artifact says, 5 for what a remote answered. Patterns are ASCII-only
(``"²".isdigit()`` is true in Python; ``[0-9]`` is not fooled), and lengths are capped before
any conversion, so no input reaches ``int``'s digit limit, a float overflow or a date outside
what ``datetime`` can shift between time zones.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "InvalidValue",
    "parse_date",
    "parse_duration",
    "parse_int",
    "parse_timestamp",
    "printable",
    "shown",
]

MIN_YEAR = 1970
MAX_YEAR = 9998

_INT = re.compile(r"[+-]?[0-9]{1,20}", re.ASCII)
_DURATION = re.compile(r"\s*([0-9]{1,15}(?:\.[0-9]{1,9})?)\s*(ms|s|m|h|d)?\s*", re.ASCII)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)


class InvalidValue(ValueError):
    """A value is malformed or out of range; the message names it."""


def shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for a one-line message: escaped, and cut when long."""
    if len(text) > limit:
        return repr(text[:limit])[:-1] + "…" + repr(text[:limit])[-1]
    return repr(text)


def printable(text: str, limit: int = 200) -> str:
    """``text`` as it is when it is one printable line of at most ``limit`` characters,
    else :func:`shown`: what a one-line message may quote from untrusted input."""
    return text if text.isprintable() and len(text) <= limit else shown(text, limit)


def parse_int(
    text: str, what: str = "integer", *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """A decimal integer (ASCII digits, optional sign, at most 20 digits) within bounds."""
    if not isinstance(text, str) or not _INT.fullmatch(text):
        raise InvalidValue(f"invalid {what} {shown(str(text))}: expected a decimal integer")
    value = int(text)
    if minimum is not None and value < minimum:
        raise InvalidValue(f"{what} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise InvalidValue(f"{what} must be at most {maximum}, not {value}")
    return value


def parse_duration(text: str, what: str = "duration", *, maximum: float) -> float:
    """Seconds from ``500ms``, ``30s``, ``1.5m``, ``2h``, ``7d`` or a bare number of seconds.

    Zero, negative and longer-than-``maximum`` durations are refused.
    """
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidValue(f"invalid {what} {shown(str(text))}")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise InvalidValue(f"{what} must be positive: {shown(text)}")
    if seconds > maximum:
        raise InvalidValue(f"{what} {shown(text)} is longer than the maximum of {maximum:g}s")
    return seconds


def _in_range(year: int, text: str, what: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidValue(f"{what} {shown(text)} is outside the years {MIN_YEAR}-{MAX_YEAR}")


def parse_timestamp(text: str, what: str = "timestamp") -> datetime:
    """An RFC 3339 date-time with a time zone (``Z`` or ``±HH:MM``), as an aware UTC datetime.

    Fractions beyond microseconds are cut; leap seconds, impossible dates (``2023-02-30``),
    naive times and years outside :data:`MIN_YEAR`..:data:`MAX_YEAR` are refused.
    """
    match = _TIMESTAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidValue(f"invalid {what} {shown(str(text))}: expected RFC 3339")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    _in_range(year, text, what)
    fraction, zone = match.group(7) or "", match.group(8)
    if zone in ("Z", "z"):
        offset = timedelta(0)
    else:
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[4:6])
        if zone_hours > 23 or zone_minutes > 59:
            raise InvalidValue(f"invalid {what} {shown(text)}: bad time zone offset")
        offset = timedelta(hours=zone_hours, minutes=zone_minutes)
        if zone[0] == "-":
            offset = -offset
    try:
        moment = datetime(
            year, month, day, hour, minute, second, int(fraction[:6].ljust(6, "0")),
            tzinfo=timezone(offset),
        )  # fmt: skip
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as e:
        raise InvalidValue(f"invalid {what} {shown(text)}: {e}") from e


def parse_date(text: str, what: str = "date") -> date:
    """A calendar date ``YYYY-MM-DD`` within :data:`MIN_YEAR`..:data:`MAX_YEAR`."""
    match = _DATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidValue(f"invalid {what} {shown(str(text))}: expected YYYY-MM-DD")
    year, month, day = (int(g) for g in match.groups())
    _in_range(year, text, what)
    try:
        return date(year, month, day)
    except ValueError as e:
        raise InvalidValue(f"invalid {what} {shown(text)}: {e}") from e
