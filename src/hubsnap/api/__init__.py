"""The verbs of hubsnap, composed from the stages; what the CLI calls and what libraries use.

Each verb lives in a submodule named for what it does (``snapshot``, ``transfer``,
``signing``, ``inspect``, ``login``); it takes a :class:`hubsnap.api.session.Session` (one
per command: settings, registry connections, verified manifests) and typed arguments, and
returns a typed result with ``to_json``, never printing. Verbs that follow one another
(``push --sign``, ``snapshot --sign``) are composed here, on the same session.
"""
