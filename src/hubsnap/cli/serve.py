"""``hubsnap serve`` and ``hubsnap worker``: mirror watched Hub repositories as they change.

The server and its dependencies (Starlette, uvicorn, RQ, Redis) are imported only when one
of these commands runs, so the rest of the CLI starts as fast as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from hubsnap.cli import app, example
from hubsnap.cli._output import settings
from hubsnap.errors import UsageError

SECRET_ENV = "HUBSNAP_WEBHOOK_SECRET"  # noqa: S105 - the variable's name, not a secret

KeyOption = Annotated[
    Path | None,
    typer.Option("--key", help="ECDSA private key (PEM) to sign with.", envvar="HUBSNAP_KEY"),
]
QueueOption = Annotated[
    str | None,
    typer.Option("--queue", metavar="redis://HOST:PORT/DB", help="Hand jobs to RQ on Redis."),
]
LfsRepoOption = Annotated[
    Path | None,
    typer.Option(
        "--lfs-repo",
        metavar="DIR",
        help="Also commit each signed artifact to this git repository (Git LFS), on the "
        "branch OWNER/NAME/REF.",
    ),
]
JobTimeoutOption = Annotated[
    str, typer.Option("--job-timeout", help="Longest a job may run (RQ), e.g. 6h.")
]


def _key(key: Path | None) -> Path:
    if key is None:
        raise UsageError("no signing key", hint="pass --key key.pem or set HUBSNAP_KEY")
    if not key.is_file():
        raise UsageError(f"key {key} not found")
    from hubsnap.api.signing import check_signing_key  # noqa: PLC0415 - keeps --help fast

    check_signing_key(key)  # a public, foreign or locked key is refused now, not in each job
    return key


@app.command(
    "serve",
    epilog=example(
        "HUBSNAP_WEBHOOK_SECRET=… hubsnap serve --registry localhost:5000/mirror "
        "--key key.pem --watch 'sentence-transformers/*'",
    ),
)
def serve_command(
    registry: Annotated[
        str, typer.Option("--registry", metavar="REG/PREFIX", help="Where mirrors go.")
    ],
    *,
    watch: Annotated[
        list[str],
        typer.Option("--watch", metavar="GLOB", help="Repository ids to mirror (repeatable)."),
    ],
    key: KeyOption = None,
    poll_interval: Annotated[
        str, typer.Option("--poll-interval", help="Reconciler period, e.g. 5m.")
    ] = "5m",
    queue: QueueOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Jobs run at once (embedded queue).")
    ] = 2,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", metavar="GLOB", help="Mirror only files matching GLOB."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="GLOB", help="Leave out files matching GLOB."),
    ] = None,
    job_timeout: JobTimeoutOption = "6h",
    lfs_repo: LfsRepoOption = None,
    insecure_no_secret: Annotated[
        bool,
        typer.Option("--insecure-no-secret", help=f"Accept webhooks without {SECRET_ENV}."),
    ] = False,
) -> None:
    """Mirror every new commit of the watched repositories as a signed artifact."""
    from hubsnap.serve.jobs import selection_key  # noqa: PLC0415 - keeps --help fast
    from hubsnap.serve.server import ServerOptions, run_server  # noqa: PLC0415

    secret = os.environ.get(SECRET_ENV) or None
    if secret is None and not insecure_no_secret:
        raise UsageError(
            f"{SECRET_ENV} is not set",
            hint="set it to the webhook's secret, or pass --insecure-no-secret",
        )
    if concurrency < 1 or not 0 <= port <= 65535:
        raise UsageError("--concurrency must be at least 1 and --port a TCP port")
    if not watch:
        raise UsageError("nothing to watch", hint="pass --watch OWNER/NAME or a glob")
    if lfs_repo is not None and queue is not None:
        raise UsageError(
            "--lfs-repo is where jobs run", hint="with --queue, pass it to hubsnap worker"
        )
    from hubsnap.api.session import transport_options  # noqa: PLC0415
    from hubsnap.config import parse_duration  # noqa: PLC0415
    from hubsnap.serve.service import MirrorConfig  # noqa: PLC0415
    from hubsnap.snapshot import Selection  # noqa: PLC0415

    config_settings = settings()

    mirror_config = MirrorConfig(
        prefix=registry.rstrip("/"),
        watch=tuple(watch),
        selection=selection_key(Selection(tuple(include or ()), tuple(exclude or ()))),
        key=_key(key) if queue is None else key,
        transport=transport_options(config_settings),
        lfs_repo=lfs_repo,
    )
    run_server(
        config_settings,
        mirror_config,
        ServerOptions(
            host=host,
            port=port,
            secret=secret,
            poll_interval=parse_duration(poll_interval),
            concurrency=concurrency,
            queue_url=queue,
            job_timeout=parse_duration(job_timeout),
        ),
    )


@app.command(
    "worker", epilog=example("hubsnap worker --queue redis://localhost:6379/0 --key key.pem")
)
def worker_command(
    queue: Annotated[
        str, typer.Option("--queue", metavar="redis://HOST:PORT/DB", help="The RQ queue.")
    ],
    *,
    key: KeyOption = None,
    burst: Annotated[bool, typer.Option("--burst", help="Exit when the queue is empty.")] = False,
    lfs_repo: LfsRepoOption = None,
) -> None:
    """Run mirror jobs from RQ on Redis (started by `hubsnap serve --queue`)."""
    from hubsnap.serve.rq_queue import connect, run_worker  # noqa: PLC0415 - keeps --help fast

    signing_key = _key(key)
    run_worker(connect(queue), settings(), signing_key, burst=burst, lfs_repo=lfs_repo)
