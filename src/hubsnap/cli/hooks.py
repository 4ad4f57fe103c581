"""``hubsnap hooks install``: git hooks that keep a repository's LFS pointers honest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hubsnap.cli import app, example, group
from hubsnap.cli._output import JsonOption, emit

hooks_app = group("hooks", "Git hooks that refuse what does not match.")
app.add_typer(hooks_app)


def _render(data: dict[str, Any]) -> str:
    lines = []
    for hook in data["hooks"]:
        chained = f" (then {hook['chained']})" if hook["chained"] else ""
        lines.append(f"installed {hook['path']}{chained}")
    return "\n".join(lines)


@hooks_app.command("install", epilog=example("hubsnap hooks install --repo ./models --key key.pub"))
def install_command(
    *,
    repo: Annotated[Path, typer.Option("--repo", help="The git repository.")] = Path(),
    max_size: Annotated[
        str,
        typer.Option("--max-size", help="Largest file allowed outside Git LFS (e.g. 10MiB)."),
    ] = "10MiB",
    key: Annotated[
        list[Path] | None,
        typer.Option(
            "--key",
            metavar="PUB",
            help="Public key pushed artifacts must be signed with (repeatable).",
        ),
    ] = None,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Trust policy pushed artifacts must meet.")
    ] = None,
    chain: Annotated[
        bool,
        typer.Option("--chain", help="Keep an existing hook and run it after hubsnap's."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Install the pre-commit hook (staged LFS paths are canonical pointers, and on a branch
    locked by lfs commit that artifact's; no plain file over --max-size) and the pre-push hook
    (pushed commits match the artifact their trailer names, which verifies with --key or
    --policy); existing hooks run after them."""
    from hubsnap.api.hooks import install_hooks  # noqa: PLC0415
    from hubsnap.lfs.hooks import parse_size  # noqa: PLC0415

    result = install_hooks(
        repo, max_size=parse_size(max_size), keys=key or (), policy=policy, chain=chain
    )
    emit(result.to_json(), json_output, _render, schema="hooks-install")
