"""Imports every command module so that each registers itself on the app."""

from hubsnap.cli import version  # noqa: F401
