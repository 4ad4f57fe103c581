"""What an artifact says of its model, read from the model's own files.

The model card's front matter gives the licences and the base model, ``config.json`` the
architecture, the weight files' suffixes the format. ``snapshot`` (files downloaded from the
Hub) and ``lfs import`` (files read from a git commit) both describe a model with
:func:`describe_model`, so the same files of the same commit give the same artifact, whichever
way they came in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from hubsnap.canonical import loads_object
from hubsnap.oci.artifact import ModelSource

__all__ = [
    "ANNOTATION_SELECTION",
    "CARD_PATH",
    "CONFIG_PATH",
    "SMALL_FILE_LIMIT",
    "describe_model",
    "model_architecture",
    "model_format",
]

#: Manifest annotation naming a partial selection (``filtered`` or ``metadata-only``).
ANNOTATION_SELECTION = "dev.hubsnap.selection"
CARD_PATH = "README.md"
CONFIG_PATH = "config.json"
#: The model card and ``config.json`` are read only up to this size; larger ones are ignored.
SMALL_FILE_LIMIT = 4 * 1024 * 1024

_FORMATS = (
    ("safetensors", (".safetensors",)),
    ("gguf", (".gguf",)),
    ("onnx", (".onnx",)),
    ("pytorch", (".bin", ".pt", ".pth")),
)


def model_architecture(config_json: bytes | None) -> str | None:
    """``architectures[0]`` of ``config.json``, else its ``model_type``; ``None`` if neither."""
    if config_json is None:
        return None
    try:
        config = loads_object(config_json, CONFIG_PATH)
    except ValueError:
        return None
    archs = config.get("architectures")
    if isinstance(archs, list) and archs and isinstance(archs[0], str):
        return archs[0]
    kind = config.get("model_type")
    return kind if isinstance(kind, str) else None


def model_format(paths: Iterable[str]) -> str | None:
    """The weight format of the first kind found, in a fixed order of preference."""
    suffixes = {PurePosixPath(p).suffix for p in paths}
    for name, kinds in _FORMATS:
        if suffixes.intersection(kinds):
            return name
    return None


def describe_model(
    *,
    repo_id: str,
    commit: str,
    hub_url: str,
    created: str,
    card: Mapping[str, Any],
    config_json: bytes | None,
    paths: Iterable[str],
    selection_mode: str = "full",
) -> ModelSource:
    """Where the model comes from and what it is, for :func:`~hubsnap.oci.artifact.
    build_model_artifact`. ``hub_url`` is the canonical Hub (``https://huggingface.co``):
    the source and the base model are named on it, never on the endpoint the bytes came
    through, so a parent's name equals the parent artifact's ``image.source``."""
    hub = hub_url.rstrip("/")
    licence = card.get("license")
    licences = tuple(str(x) for x in licence) if isinstance(licence, list) else ()
    if isinstance(licence, str):
        licences = (licence,)
    base = card.get("base_model")
    if isinstance(base, list) and len(base) == 1:
        base = base[0]
    base_name = f"{hub}/{base}" if isinstance(base, str) and base else None
    extra = () if selection_mode == "full" else ((ANNOTATION_SELECTION, selection_mode),)
    return ModelSource(
        repo_id=repo_id,
        commit=commit,
        source_url=f"{hub}/{repo_id}",
        created=created,
        licenses=licences,
        base_name=base_name,
        architecture=model_architecture(config_json),
        model_format=model_format(paths),
        extra_annotations=extra,
    )
