"""``hubsnap discover``: list Hub models, newest first, as a table or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hubsnap.cli import app, example
from hubsnap.cli._output import JsonOption, TimeoutOption, emit, print_table, settings

if TYPE_CHECKING:
    from hubsnap.api.discover import DiscoverResult


def _render(result: DiscoverResult) -> str:
    if not result.models:
        return "no models changed" if result.since else "no models found"
    rows = [
        [m.repo_id, m.last_modified or "-", str(m.downloads), m.pipeline_tag or "-"]
        for m in result.models
    ]
    return print_table(["model", "last modified", "downloads", "pipeline tag"], rows)


@app.command(
    "discover",
    epilog=example(
        "hubsnap discover --task text-classification --limit 5",
        "hubsnap discover --author sentence-transformers --incremental --json",
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
    include_private: Annotated[bool, typer.Option("--include-private")] = False,
    include_gated: Annotated[bool, typer.Option("--include-gated")] = False,
    include_disabled: Annotated[bool, typer.Option("--include-disabled")] = False,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """List Hub models: id, last modified, downloads, pipeline tag; newest first."""
    from hubsnap.api.discover import DiscoverQuery, discover  # noqa: PLC0415

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
    )
    result = discover(settings(timeout=timeout), query)
    emit(result.to_json(), json_output, lambda _: _render(result), schema="discover")
