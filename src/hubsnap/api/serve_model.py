"""``serve-model``: an artifact's model served as a Hugging Face task JSON endpoint.

The artifact is pulled (verified) into a temporary folder, loaded by the ``transformers``
runner for the task its card's ``pipeline_tag`` names (or ``task``), and served by a
:class:`~hubsnap.diff.behaviour.taskserver.TaskServer` until interrupted; the folder is
removed then. Two of these, started from two digests, are the two endpoints ``diff
--baseline-endpoint … --target-endpoint …`` compares.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hubsnap.api.session import Session
from hubsnap.api.transfer import pull
from hubsnap.diff.behaviour.model import Task, task_for
from hubsnap.diff.behaviour.runner import TransformersRunner
from hubsnap.diff.behaviour.taskserver import TaskServer
from hubsnap.errors import UsageError
from hubsnap.localfile import read_regular_file
from hubsnap.snapshot import parse_card

__all__ = ["ServedModel", "serve_model"]

#: The largest model card read for its pipeline_tag.
MAX_CARD = 1024 * 1024


@dataclass(frozen=True)
class ServedModel:
    """What is being served: the artifact (by digest), the task, and where."""

    reference: str
    task: Task
    url: str


def _pipeline_tag(folder: Path) -> str | None:
    card = folder / "README.md"
    if not card.is_file():
        return None
    tag = parse_card(read_regular_file(card, limit=MAX_CARD, what="model card")).get("pipeline_tag")
    return tag if isinstance(tag, str) else None


def serve_model(
    session: Session,
    reference: str,
    *,
    task: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    ready: Callable[[ServedModel], None] = lambda served: None,
) -> None:
    """Pull ``reference``, load it, call ``ready`` and serve until interrupted
    (KeyboardInterrupt ends it; the pulled folder is removed either way)."""
    with tempfile.TemporaryDirectory(prefix="hubsnap-serve-") as scratch:
        folder = Path(scratch) / "model"
        pulled = pull(session, reference, output=folder, allow_tag=True)
        chosen = task_for(_pipeline_tag(folder), task)
        runner = TransformersRunner(folder, role="served")
        runner.check(chosen, timeout=session.settings.timeout)
        runner.load(chosen)
        try:
            server = TaskServer(runner, chosen, host=host, port=port)
        except OSError as e:
            raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        with server:
            ready(ServedModel(pulled.reference, chosen, server.url))
            server.serve_forever()
