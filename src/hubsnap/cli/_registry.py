"""Imports every command module so that each registers itself on the app.

The order is the order of ``hubsnap -h``: the workflow, from finding a model to checking
what was deployed and what changed, then keys and credentials, serving, Git LFS, the version.
"""

from hubsnap.cli import (  # noqa: F401  (isort: skip: the order is the help's)
    discover,
    snapshot,
    push,
    pull,
    cp,
    inspect,
    store,
    sign,
    verify,
    export_signature,
    diff,
    keygen,
    login,
    serve_model,
    serve,
    lfs,
    hooks,
    version,
)
