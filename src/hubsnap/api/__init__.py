"""The verbs of hubsnap, composed from the stages; what the CLI calls and what libraries use.

Each verb lives in a submodule named for what it does (``snapshot``, ``transfer``,
``signing``); they take :class:`hubsnap.config.Settings` and typed arguments and return typed
results, never printing.
"""
