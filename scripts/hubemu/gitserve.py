"""Git's smart HTTP protocol and the Git LFS endpoints, under the Hub's repository URLs.

    GET  /{ns}/{name}[.git]/info/refs?service=git-upload-pack     ref advertisement
    POST /{ns}/{name}[.git]/git-upload-pack                        fetch / clone (v0 and v2)
    POST /{ns}/{name}[.git]/info/lfs/objects/batch                 Git LFS batch API (lfsapi)
    *    .../git-receive-pack, info/refs?service=git-receive-pack  403: pushes are refused

Fetches are answered by git's own ``git http-backend`` (CGI) over the bare repositories of
``gitrepo``. Credentials are HTTP basic with any user name and a token as password (or a
bearer token); private and gated repositories answer 401 with a challenge without them, as
the Hub does, so git asks its credential helpers and git-lfs retries with them.
"""

from __future__ import annotations

import subprocess
import zlib
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from hubemu import lfsapi
from hubemu.gitrepo import GIT_TIMEOUT, GitMirrorError, GitMirrors
from hubemu.server import Request, Response
from hubemu.store import Repo, Store

if TYPE_CHECKING:
    from hubemu.server import EmulatorServer

MAX_BODY = 64 << 20  # an inflated request body larger than this is refused
_CGI_HEADERS = {"content-type", "cache-control", "expires", "pragma", "last-modified"}
_REALM = 'Basic realm="Authentication required", charset="UTF-8"'


class GitService:
    """The git and LFS routes of one emulator; ``route`` plugs into the server's routers."""

    def __init__(self, store: Store) -> None:
        self.mirrors = GitMirrors(store)

    def close(self) -> None:
        self.mirrors.close()

    def route(self, server: EmulatorServer, req: Request) -> Response | None:
        target = _split(req.path)
        if target is None:
            return None
        repo_id, rest = target
        service = req.arg("service")
        receive = rest == "git-receive-pack" or (
            rest == "info/refs" and service == "git-receive-pack"
        )
        lfs = rest.startswith("info/lfs/")
        if receive:
            return _text(403, "Pushes to the Hub emulator are not supported.")
        access = _authorize(server, req, repo_id, lfs)
        if isinstance(access, Response):
            return access
        if lfs:
            if rest == "info/lfs/objects/batch" and req.method == "POST":
                return lfsapi.batch(req, access)
            return lfsapi.error(404, "Not found")
        if (rest == "info/refs" and req.method == "GET" and service == "git-upload-pack") or (
            rest == "git-upload-pack" and req.method == "POST"
        ):
            return self._backend(req, access, rest)
        return _text(403, "Only git's smart HTTP protocol is served.")

    def _backend(self, req: Request, repo: Repo, rest: str) -> Response:
        try:
            repo_dir = self.mirrors.sync(repo)
        except GitMirrorError as exc:
            return _text(500, f"emulator error: {exc}")
        body = req.body
        if (req.headers.get("Content-Encoding") or "").lower() in {"gzip", "x-gzip"}:
            try:
                body = _gunzip(body)
            except ValueError as exc:
                return _text(400, str(exc))
        env = dict(self.mirrors.env)
        env |= {
            "GIT_PROJECT_ROOT": str(self.mirrors.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{repo.id}.git/{rest}",
            "QUERY_STRING": urlencode(req.query, doseq=True),
            "REQUEST_METHOD": req.method,
            "CONTENT_TYPE": req.headers.get("Content-Type") or "",
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
        }
        if protocol := req.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = protocol
            env["HTTP_GIT_PROTOCOL"] = protocol
        result = subprocess.run(
            ["git", "http-backend"],
            input=body,
            env=env,
            cwd=repo_dir,
            capture_output=True,
            check=False,
            timeout=GIT_TIMEOUT,
        )
        if result.returncode != 0 and not result.stdout:
            detail = result.stderr.decode("utf-8", "replace").strip()
            return _text(500, f"emulator error: git http-backend failed: {detail}")
        return _cgi_response(result.stdout)


def _split(path: str) -> tuple[str, str] | None:
    """``(repo_id, rest)`` when ``path`` is a git or LFS URL of a repository."""
    parts = path.split("/")[1:]
    if len(parts) < 3 or parts[0] in {"api", "_cdn", "_emulator"}:
        return None
    name = parts[1].removesuffix(".git")
    rest = "/".join(parts[2:])
    is_git = rest in {"info/refs", "git-upload-pack", "git-receive-pack"}
    if not (is_git or rest.startswith("info/lfs/")) or not name:
        return None
    return f"{parts[0]}/{name}", rest


def _challenge(message: str, lfs: bool) -> Response:
    headers = {"WWW-Authenticate": _REALM}
    if lfs:
        headers["LFS-Authenticate"] = _REALM
        response = lfsapi.error(401, message)
        response.headers |= headers
        return response
    response = _text(401, message)
    response.headers |= headers
    return response


def _authorize(server: EmulatorServer, req: Request, repo_id: str, lfs: bool) -> Repo | Response:
    """The repository if this caller may read it over git, else git's answer for it."""

    def refuse(status: int, message: str) -> Response:
        return lfsapi.error(status, message) if lfs else _text(status, message)

    if req.bad_token:
        return _challenge("Invalid username or password.", lfs)
    user = req.user
    repo = server.store.get(repo_id)
    readable = repo is not None and (
        not repo.private or (user is not None and user.can_read(repo.author))
    )
    if repo is None or not readable:
        # Anonymous callers are challenged, so that a private repo is not revealed.
        if user is None:
            return _challenge("Authentication required.", lfs)
        return refuse(404, "Repository not found.")
    if repo.disabled:
        return refuse(403, "Access to this resource is disabled.")
    if repo.gated and (user is None or not user.gated_access):
        if user is None:
            return _challenge(f"Access to model {repo.id} is restricted. Please log in.", lfs)
        return refuse(403, f"Access to model {repo.id} is restricted; ask for access first.")
    return repo


def _gunzip(data: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_BODY + 1)
    except zlib.error as exc:
        raise ValueError(f"request body is not valid gzip: {exc}") from exc
    if len(out) > MAX_BODY:
        raise ValueError("request body too large")
    return out


def _cgi_response(raw: bytes) -> Response:
    """Split a CGI answer into status, headers and body (``Status:`` sets the status)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    status, headers = 200, {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        key, value = name.strip().lower(), value.strip()
        if key == "status":
            status = int(value.split()[0])
        elif key in _CGI_HEADERS:
            headers[name.strip()] = value
    return Response(status, headers, body)


def _text(status: int, message: str) -> Response:
    return Response(status, {"Content-Type": "text/plain; charset=utf-8"}, message.encode() + b"\n")
