"""``hubsnap diff BASE TARGET``: what changed between two artifacts, level by level."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from hubsnap.cli import app, example
from hubsnap.cli._output import (
    CaFileOption,
    JsonOption,
    PlainHttpOption,
    StoreOption,
    TimeoutOption,
    info,
    open_session,
    warn,
)
from hubsnap.errors import CheckFailed, UsageError, from_os_error

_FORMATS = ("table", "json", "markdown", "html")


def _side(positional: str | None, alias: str | None, name: str, flag: str) -> str:
    if positional is not None and alias is not None and positional != alias:
        raise UsageError(f"{name} given twice: {positional!r} and {flag} {alias!r}")
    value = positional if positional is not None else alias
    if value is None:
        raise UsageError(f"missing {name}", hint="hubsnap diff BASE TARGET")
    return value


@app.command(
    "diff",
    epilog=example(
        "hubsnap diff sha256:… sha256:… --levels files,config,tokenizer",
        "hubsnap diff snapshot-v1.yaml snapshot-v2.yaml --fail-on 'max_abs_diff>1e-3'",
        "hubsnap diff HOST/REPO@sha256:… HOST/REPO:v2 --levels config,headers --sign key.pem",
    ),
)
def diff_command(
    base: Annotated[
        str | None,
        typer.Argument(
            metavar="BASE",
            help="sha256:… (local store), oci:PATH@…, HOST/REPO@… or :TAG, or snapshot.yaml.",
            show_default=False,
        ),
    ] = None,
    target: Annotated[
        str | None, typer.Argument(metavar="TARGET", help="As BASE.", show_default=False)
    ] = None,
    *,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="BASE, as an option.", show_default=False)
    ] = None,
    target_option: Annotated[
        str | None, typer.Option("--target", help="TARGET, as an option.", show_default=False)
    ] = None,
    levels: Annotated[
        str | None,
        typer.Option(
            "--levels",
            help="Comma list of files,config,tokenizer,card,headers,tensors,behaviour "
            "(default: all but behaviour).",
        ),
    ] = None,
    output_format: Annotated[
        str,
        typer.Option("--format", help="table, json, markdown or html (one self-contained page)."),
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the report to FILE.")
    ] = None,
    fail_on: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-on",
            help="METRIC OP NUMBER, e.g. max_abs_diff>1e-3 or files_changed>0; exit 1 when "
            "any is breached (repeatable).",
        ),
    ] = None,
    testset: Annotated[
        Path | None,
        typer.Option(
            "--testset",
            help='JSON array or JSONL of {"text": …} (optional "labels"): adds the '
            "behaviour level.",
        ),
    ] = None,
    baseline_endpoint: Annotated[
        str | None,
        typer.Option("--baseline-endpoint", help="Inference endpoint serving BASE (URL)."),
    ] = None,
    target_endpoint: Annotated[
        str | None,
        typer.Option("--target-endpoint", help="Inference endpoint serving TARGET (URL)."),
    ] = None,
    runner: Annotated[
        str | None,
        typer.Option(
            "--runner", help="transformers: load both artifacts locally (hubsnap[behaviour])."
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option("--task", help="Override the artifact's pipeline_tag for behaviour."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check the test set and both sides; send no input to them."),
    ] = False,
    sign_key: Annotated[
        Path | None,
        typer.Option(
            "--sign",
            metavar="KEY",
            help="Sign the JSON report with this private key and attach it to TARGET as a "
            "referrer (an encrypted key's password from HUBSNAP_KEY_PASSWORD).",
            show_default=False,
        ),
    ] = None,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """Show what changed between two artifacts: files, config, tokenizer, card, tensors, and
    behaviour on a test set."""
    from hubsnap.api.diff import BehaviourRequest, diff, parse_levels  # noqa: PLC0415
    from hubsnap.diff.render import render_markdown, render_table  # noqa: PLC0415
    from hubsnap.fsutil import atomic_write_bytes  # noqa: PLC0415

    first = _side(base, baseline, "BASE", "--baseline")
    second = _side(target, target_option, "TARGET", "--target")
    fmt = "json" if json_output else output_format
    if fmt not in _FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint="use " + ", ".join(_FORMATS))
    behaviour = None
    if testset is not None:
        behaviour = BehaviourRequest(
            testset=testset, base_endpoint=baseline_endpoint, target_endpoint=target_endpoint,
            runner=runner, task=task, dry_run=dry_run,
        )  # fmt: skip
    elif baseline_endpoint or target_endpoint or runner or task or dry_run:
        raise UsageError(
            "--baseline-endpoint, --target-endpoint, --runner, --task and --dry-run need --testset"
        )
    with open_session(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    ) as session:
        report = diff(
            session,
            first,
            second,
            levels=parse_levels(levels),
            fail_on=tuple(fail_on or ()),
            behaviour=behaviour,
            sign_key=sign_key,
        )
    if fmt == "json":
        text = json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n"
    elif fmt == "html":
        from hubsnap.diff.html import render_html  # noqa: PLC0415

        text = render_html(report)
    else:
        text = render_markdown(report) if fmt == "markdown" else render_table(report)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            atomic_write_bytes(output, text.encode())
        except OSError as e:
            raise from_os_error(e, "write the report", output) from e
        warn(f"wrote {output}")
    if report.signature is not None:
        info(f"signed the report: referrer {report.signature} on {second}")
    failed = report.failed_checks
    if failed:
        shown = ", ".join(f"{c.expr} ({'undefined' if c.value is None else f'{c.value:g}'})"
                          for c in failed)  # fmt: skip
        raise CheckFailed(f"{len(failed)} of {len(report.checks)} checks failed: {shown}")
