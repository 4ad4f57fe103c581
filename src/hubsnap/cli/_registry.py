"""Imports every command module so that each registers itself on the app."""

from hubsnap.cli import (  # noqa: F401
    cp,
    discover,
    export_signature,
    hooks,
    inspect,
    keygen,
    lfs,
    login,
    pull,
    push,
    sign,
    snapshot,
    store,
    verify,
    version,
)
