"""A local, deterministic stand-in for the Hugging Face Hub HTTP API.

The package owns everything behind ``scripts/hub_emulator.py``: git object hashing
(``gitobj``), safetensors byte surgery (``tensors``), the fixture recipe (``fixtures``),
the synthetic listing catalogue (``catalog``) and its model cards (``cards``, drawn from
``cards.yaml``), repository state (``store``), the Hub's JSON shapes (``views``), injected
faults (``faults``), the HTTP front end (``server``), and git over HTTP: bare repositories
mirroring the store (``gitrepo``), smart HTTP (``gitserve``) and the Git LFS batch API
(``lfsapi``).
"""

from __future__ import annotations
