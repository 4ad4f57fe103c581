"""Print a pip constraints file pinning every dependency of hubsnap to its lowest allowed version.

Reads ``[project].dependencies`` and the ``test`` extra of ``pyproject.toml`` and turns each
``NAME>=X[,<Y]`` into ``NAME==X``. A requirement without a ``>=`` lower bound is an error: the
lowest-versions run can only prove a bound that is written down.

    python scripts/lowest_constraints.py [pyproject.toml] > constraints-lowest.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def lowest(requirement: str) -> str:
    """``"httpx>=0.27,<0.29"`` → ``"httpx==0.27"``."""
    match = _REQUIREMENT.match(requirement.split(";", 1)[0])
    if match is None:
        raise ValueError(f"cannot read requirement {requirement!r}")
    name, specifiers = match.group(1), match.group(3)
    bounds = [s.strip()[2:].strip() for s in specifiers.split(",") if s.strip().startswith(">=")]
    if len(bounds) != 1:
        raise ValueError(f"{requirement!r} has no single >= lower bound")
    return f"{name}=={bounds[0]}"


def main(argv: list[str]) -> int:
    path = (
        Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "pyproject.toml"
    )
    project = tomllib.loads(path.read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    try:
        lines = [lowest(r) for r in requirements]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("# Generated from pyproject.toml by scripts/lowest_constraints.py; do not edit.")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
