"""Imports every command module so that each registers itself on the app."""

from hubsnap.cli import (  # noqa: F401
    diff,
    discover,
    export_signature,
    hooks,
    inspect,
    keygen,
    lfs,
    login,
    pull,
    push,
    serve,
    serve_model,
    sign,
    snapshot,
    verify,
    version,
)
