"""``hubsnap discover``: list Hub models, newest first, as a table or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hubsnap.cli import app, example
from hubsnap.cli._output import JsonOption, TimeoutOption, emit, print_table, settings, warn

if TYPE_CHECKING:
    from hubsnap.api.discover import DiscoverResult


#: ``--like``'s defaults, repeated here so that ``--help`` loads nothing (a test compares them).
DEFAULT_THRESHOLD = 0.40
DEFAULT_CANDIDATES = 2000


def _nothing_similar(result: DiscoverResult) -> str:
    """What ``--like`` says when no model reaches the threshold: how close the best came."""
    assert result.like is not None
    closest, threshold = result.like.closest, result.like.query.threshold
    if closest is None:
        return "no models to rank"
    return f"no models scored >= {threshold:g}; the closest, {closest[0]}, scored {closest[1]:.4f}"


def _render(result: DiscoverResult) -> str:
    if not result.models:
        if result.like is not None:
            return _nothing_similar(result)
        return "no models changed" if result.since else "no models found"
    headers = ["model", "last modified", "downloads", "pipeline tag"]
    rows = [
        [m.repo_id, m.last_modified or "-", str(m.downloads), m.pipeline_tag or "-"]
        for m in result.models
    ]
    if result.like is not None:
        headers.insert(1, "similarity")
        for row, model in zip(rows, result.models, strict=True):
            row.insert(1, f"{result.similarity(model):.4f}")
    return print_table(headers, rows)


@app.command(
    "discover",
    epilog=example(
        "hubsnap discover --task text-classification --limit 5",
        "hubsnap discover --author sentence-transformers --incremental --json",
        'hubsnap discover --like "classify clauses of legal contracts" --limit 10',
    ),
)
def discover_command(
    *,
    task: Annotated[str | None, typer.Option("--task", help="Pipeline tag to list.")] = None,
    author: Annotated[str | None, typer.Option("--author", help="Only this owner.")] = None,
    search: Annotated[str | None, typer.Option("--search", help="Text in the model id.")] = None,
    sort: Annotated[
        str, typer.Option("--sort", help="last_modified, downloads, likes or created.")
    ] = "last_modified",
    limit: Annotated[int, typer.Option("--limit", help="How many models at most.")] = 20,
    since: Annotated[
        str | None, typer.Option("--since", help="Only models changed after TIMESTAMP.")
    ] = None,
    incremental: Annotated[
        bool, typer.Option("--incremental", help="Only models changed since the last run.")
    ] = False,
    include_private: Annotated[
        bool, typer.Option("--include-private", help="Also list private models (HF_TOKEN's).")
    ] = False,
    include_gated: Annotated[
        bool, typer.Option("--include-gated", help="Also list gated models.")
    ] = False,
    include_disabled: Annotated[
        bool, typer.Option("--include-disabled", help="Also list disabled models.")
    ] = False,
    like: Annotated[
        str | None,
        typer.Option(
            "--like", help="Rank by similarity of the model cards to TEXT.", metavar="TEXT"
        ),
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option(
            "--embedder",
            metavar="REF",
            help=(
                "Sentence-transformers artifact for --like (default: the store's "
                "sentence-transformers/all-MiniLM-L6-v2)."
            ),
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help=f"Least similarity kept (default {DEFAULT_THRESHOLD})."),
    ] = None,
    candidates: Annotated[
        int | None,
        typer.Option(
            "--candidates", help=(f"Listed models ranked by --like (default {DEFAULT_CANDIDATES}).")
        ),
    ] = None,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """List Hub models: id, last modified, downloads, pipeline tag; newest first.

    With --like TEXT: the listed models whose cards are most similar to TEXT (cosine of
    sentence embeddings, from an embedder artifact in the store), most similar first.
    """
    from hubsnap.api.discover import DiscoverQuery, discover  # noqa: PLC0415
    from hubsnap.errors import UsageError  # noqa: PLC0415

    like_query = None
    if like is not None:
        from hubsnap.api.like import LikeQuery  # noqa: PLC0415

        like_query = LikeQuery(
            text=like,
            embedder=embedder,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            candidates=DEFAULT_CANDIDATES if candidates is None else candidates,
        )
    else:
        given = [name for name, value in (("--embedder", embedder), ("--threshold", threshold),
                 ("--candidates", candidates)) if value is not None]  # fmt: skip
        if given:
            raise UsageError(f"{given[0]} needs --like", hint='e.g. --like "legal contract review"')

    query = DiscoverQuery(
        task=task,
        author=author,
        search=search,
        sort=sort,
        limit=limit,
        since=since,
        incremental=incremental,
        include_private=include_private,
        include_gated=include_gated,
        include_disabled=include_disabled,
        like=like_query,
    )
    result = discover(settings(timeout=timeout), query)
    for note in result.like.notes if result.like is not None else ():
        warn(f"note: {note}")
    closest = result.like.closest if result.like is not None else None
    if closest is not None and not result.models and not json_output:
        warn(f"hint: --threshold {closest[1]:.4f} would show it")
    emit(result.to_json(), json_output, lambda _: _render(result), schema="discover")
