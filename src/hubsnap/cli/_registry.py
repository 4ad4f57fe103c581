"""Imports every command module so that each registers itself on the app.

The order is the order of ``hubsnap -h``: the workflow, from finding a model to checking
what was deployed, then keys and credentials, Git LFS, and the version.
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
    keygen,
    login,
    lfs,
    hooks,
    version,
)
