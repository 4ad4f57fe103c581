"""Imports every command module so that each registers itself on the app."""

from hubsnap.cli import discover, snapshot, version  # noqa: F401
from hubsnap.cli import export_signature  # noqa: F401
from hubsnap.cli import keygen  # noqa: F401
from hubsnap.cli import sign  # noqa: F401
from hubsnap.cli import verify  # noqa: F401
