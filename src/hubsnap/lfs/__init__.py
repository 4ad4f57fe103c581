"""The Git LFS bridge: pointers, the ``git fast-import`` writer and repository reads.

``pointer`` is pure (no git); ``fastimport`` and ``repo`` run git and own ``gitpython``:
nothing else in hubsnap imports ``git``. The verbs composed from them live in
:mod:`hubsnap.api.lfs`.
"""
