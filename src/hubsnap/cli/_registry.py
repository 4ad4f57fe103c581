"""Imports every command module so that each registers itself on the app."""

from hubsnap.cli import snapshot, version  # noqa: F401
