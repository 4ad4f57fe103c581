"""Shared fixtures live in tests/support/, one plugin module per real component."""

pytest_plugins: list[str] = [
    "support.hub",
    "support.registry",
    "support.keys",
    "support.redis",
    "support.serve",
]
