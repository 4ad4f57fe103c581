"""The Hub endpoints ``huggingface_hub`` calls, with the Hub's status codes and headers.

Covers model listing (filters, sorting, cursor pagination, ETag), model info at a
revision, tree, refs, commits, paths-info, whoami, and ``resolve`` downloads with LFS files
redirected to a CDN-like path on a different host name, so that clients which forward
``Authorization`` off the Hub are caught (the CDN refuses such requests, as S3 does).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, unquote, urlencode

from hubemu.server import INVALID_CREDENTIALS, Request, Response, hub_error, json_response
from hubemu.store import Commit, Repo
from hubemu.views import LISTING_DEFAULT, LISTING_FULL, Views

if TYPE_CHECKING:
    from hubemu.server import EmulatorServer

PAGE = 1000
TREE_PAGE, TREE_PAGE_EXPANDED, COMMIT_PAGE = 1000, 50, 50
_CDN_SECRET = b"hub-emulator-cdn"
SORT_KEYS = {
    "lastModified": lambda r: r.head.epoch,
    "createdAt": lambda r: r.created_epoch,
    "downloads": lambda r: r.downloads,
    "likes": lambda r: r.likes,
    "trendingScore": lambda r: r.trending,
    "id": lambda r: r.id,
}


def route(server: EmulatorServer, req: Request) -> Response | None:
    parts = [unquote(p) for p in req.path.split("/")[1:]]
    if parts[:1] == ["_cdn"]:
        return cdn(server, req, parts[1:])
    if req.bad_token:
        return hub_error(401, INVALID_CREDENTIALS)
    if parts == ["api", "whoami-v2"]:
        return whoami(req)
    if parts == ["api", "models"] and req.method == "GET":
        return list_models(server, req)
    if parts[:2] == ["api", "models"] and len(parts) >= 4:
        return repo_api(server, req, f"{parts[2]}/{parts[3]}", parts[4:])
    if len(parts) >= 5 and parts[2] == "resolve" and req.method in {"GET", "HEAD"}:
        rev, path = _split_revision(parts[3:])
        return resolve(server, req, f"{parts[0]}/{parts[1]}", rev, path)
    return None


def _split_revision(parts: list[str]) -> tuple[str, list[str]]:
    """Revision and rest; tolerates unencoded ``refs/pr/N`` / ``refs/heads/x`` revisions."""
    if parts[0] == "refs" and len(parts) >= 3 and parts[1] in {"pr", "heads", "tags", "convert"}:
        return "/".join(parts[:3]), parts[3:]
    return parts[0], parts[1:]


def whoami(req: Request) -> Response:
    if req.user is None:
        return hub_error(401, INVALID_CREDENTIALS)
    return json_response(
        {
            "type": "user",
            "id": hashlib.sha1(req.user.name.encode(), usedforsecurity=False).hexdigest()[:24],
            "name": req.user.name,
            "fullname": req.user.name,
            "isPro": False,
            "orgs": [{"type": "org", "name": o} for o in req.user.orgs],
            "auth": {
                "type": "access_token",
                "accessToken": {"displayName": "emulator", "role": "read"},
            },
        }
    )


def _visible(req: Request, repo: Repo) -> bool:
    return not repo.private or (req.user is not None and req.user.can_read(repo.author))


def open_repo(server: EmulatorServer, req: Request, repo_id: str) -> Repo | Response:
    """The repo if this caller may see it, else the Hub's error for it."""
    repo = server.store.get(repo_id)
    if repo is None or not _visible(req, repo):
        # The Hub answers 401 to anonymous callers so as not to reveal private repos.
        return hub_error(401 if req.user is None else 404, "Repository not found", "RepoNotFound")
    if repo.disabled:
        return hub_error(403, "Access to this resource is disabled.")
    return repo


def _resolve(repo: Repo, revision: str) -> Commit | Response:
    commit = repo.resolve(revision)
    if commit is None:
        return hub_error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
    return commit


def _weak_etag(body: bytes) -> str:
    return 'W/"' + hashlib.sha1(body, usedforsecurity=False).hexdigest() + '"'


def _cached_json(req: Request, data: object, headers: dict[str, str] | None = None) -> Response:
    response = json_response(data, headers=headers)
    etag = _weak_etag(response.body)
    response.headers["ETag"] = etag
    if req.headers.get("If-None-Match") == etag:
        return Response(304, {"ETag": etag, **(headers or {})})
    return response


def _next_link(req: Request, **changes: str) -> str:
    query = {k: v for k, v in req.query.items() if k not in changes}
    pairs = [(k, v) for k, vs in query.items() for v in vs] + list(changes.items())
    return f'<http://{req.host}{req.path}?{urlencode(pairs)}>; rel="next"'


def _cursor(req: Request) -> int:
    raw = req.arg("cursor")
    if not raw:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(raw.encode()))["o"])
    except (ValueError, KeyError):
        return 0


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def list_models(server: EmulatorServer, req: Request) -> Response:
    views = server.views
    # list() snapshots the dict in one step, so concurrent publishes cannot break iteration.
    repos = [r for r in list(server.store.repos.values()) if not r.disabled and _visible(req, r)]
    if author := req.arg("author"):
        repos = [r for r in repos if r.author.lower() == author.lower()]
    if search := req.arg("search"):
        repos = [r for r in repos if search.lower() in r.id.lower()]
    if pipeline := req.arg("pipeline_tag"):
        repos = [r for r in repos if views.pipeline_tag(r.head) == pipeline]
    if (gated := req.arg("gated")) is not None:
        repos = [r for r in repos if bool(r.gated) == (gated.lower() == "true")]
    for wanted in req.args("filter"):
        repos = [r for r in repos if wanted in views.tags(r.head) or wanted == r.id]
    sort = req.arg("sort") or "trendingScore"
    key = SORT_KEYS.get(sort)
    if key is None:
        return hub_error(400, f"Invalid sort parameter: {sort}")
    descending = req.arg("direction", "-1") != "1"
    repos.sort(key=lambda r: r.id)
    repos.sort(key=key, reverse=descending)
    try:
        size = min(int(req.arg("limit") or PAGE), PAGE)
    except ValueError:
        return hub_error(400, "limit must be an integer")
    expand = req.args("expand", "expand[]")
    if expand:
        names = ["_id", "id", *expand]
    else:
        names = list(LISTING_FULL if req.flag("full") else LISTING_DEFAULT)
        names += [n for n in ("config", "cardData") if req.flag(n)]
    start = _cursor(req)
    page = [views.listing_item(r, names) for r in repos[start : start + size]]
    headers = {}
    if start + size < len(repos):
        headers["Link"] = _next_link(req, cursor=_encode_cursor(start + size))
    return _cached_json(req, page, headers)


def repo_api(
    server: EmulatorServer, req: Request, repo_id: str, rest: list[str]
) -> Response | None:
    repo = open_repo(server, req, repo_id)
    if isinstance(repo, Response):
        return repo
    views = server.views
    action = rest[0] if rest else ""
    if action in {"", "revision"} and req.method == "GET":
        commit = _resolve(repo, "/".join(rest[1:]) if rest else "main")
        if isinstance(commit, Response):
            return commit
        expand = req.args("expand", "expand[]") or None
        return json_response(views.model_info(repo, commit, req.flag("blobs"), expand))
    if action == "refs" and req.method == "GET":
        return json_response(views.refs(repo, req.flag("include_prs")))
    if action == "commits" and req.method == "GET" and len(rest) >= 2:
        commit = _resolve(repo, "/".join(rest[1:]))
        if isinstance(commit, Response):
            return commit
        return list_commits(req, repo, commit)
    if action == "tree" and req.method == "GET" and len(rest) >= 2:
        rev, path = _split_revision(rest[1:])
        commit = _resolve(repo, rev)
        if isinstance(commit, Response):
            return commit
        return list_tree(server, req, repo, commit, "/".join(path).strip("/"))
    if action == "paths-info" and req.method == "POST" and len(rest) >= 2:
        commit = _resolve(repo, "/".join(rest[1:]))
        if isinstance(commit, Response):
            return commit
        return paths_info(server, req, repo, commit)
    return None


def list_commits(req: Request, repo: Repo, head: Commit) -> Response:
    history = list(repo.history(head))
    page = int(req.arg("p") or 0)
    items = []
    for c in history[page * COMMIT_PAGE : (page + 1) * COMMIT_PAGE]:
        item = Views.commit_item(c)
        if "formatted" in req.args("expand", "expand[]"):
            item["formatted"] = {"title": f"<p>{c.title}</p>", "message": f"<p>{c.body}</p>"}
        items.append(item)
    headers = {"X-Total-Count": str(len(history))}
    if (page + 1) * COMMIT_PAGE < len(history):
        headers["Link"] = _next_link(req, p=str(page + 1))
    return json_response(items, headers=headers)


def _children(commit: Commit, directory: str, recursive: bool) -> list[str]:
    prefix = f"{directory}/" if directory else ""
    dirs = sorted(d for d in commit.trees if d and d.startswith(prefix))
    files = sorted(f for f in commit.files if f.startswith(prefix))
    if recursive:
        return sorted(dirs + files)
    depth = prefix.count("/")
    # Folders first, then files, as the Hub lists a directory.
    return [d for d in dirs if d.count("/") == depth] + [f for f in files if f.count("/") == depth]


def list_tree(
    server: EmulatorServer, req: Request, repo: Repo, commit: Commit, path: str
) -> Response:
    if path and path not in commit.trees:
        return hub_error(404, "Entry not found", "EntryNotFound")
    expand = req.flag("expand")
    paths = _children(commit, path, req.flag("recursive"))
    size = TREE_PAGE_EXPANDED if expand else TREE_PAGE
    start = _cursor(req)
    page = paths[start : start + size]
    entries = [server.views.tree_entry(repo, commit, p, expand) for p in page]
    headers = {}
    if start + size < len(paths):
        headers["Link"] = _next_link(req, cursor=_encode_cursor(start + size))
    return json_response(entries, headers=headers)


def paths_info(server: EmulatorServer, req: Request, repo: Repo, commit: Commit) -> Response:
    content_type = req.headers.get("Content-Type") or ""
    if "json" in content_type:
        data = req.json()
        paths, expand = list(data.get("paths", [])), bool(data.get("expand"))
    else:
        form = parse_qs(req.body.decode(), keep_blank_values=True)
        paths = form.get("paths", [])
        expand = (form.get("expand") or ["false"])[-1].lower() == "true"
    wanted = [p.strip("/") for p in paths]
    found = [p for p in wanted if p in commit.files or p in commit.trees]
    return json_response([server.views.tree_entry(repo, commit, p, expand) for p in found])


def _signature(path: str) -> str:
    return hmac.new(_CDN_SECRET, path.encode(), hashlib.sha256).hexdigest()[:32]


def cdn_location(req: Request, repo_id: str, sha256: str, path: str) -> str:
    """A signed CDN URL for an LFS object (also the Git LFS batch API's download link)."""
    hostname = req.host.rsplit(":", 1)[0]
    port = req.host.rsplit(":", 1)[1] if ":" in req.host else "80"
    # A different host name for the same server: clients must treat it as off-Hub.
    cdn_host = "localhost" if hostname == "127.0.0.1" else "127.0.0.1"
    cdn_path = f"/_cdn/lfs/{repo_id}/{sha256}/{quote(path)}"
    return f"http://{cdn_host}:{port}{cdn_path}?Expires=4102444800&Signature={_signature(cdn_path)}"


def resolve(
    server: EmulatorServer, req: Request, repo_id: str, revision: str, path_parts: list[str]
) -> Response:
    repo = open_repo(server, req, repo_id)
    if isinstance(repo, Response):
        return repo
    if repo.gated and (req.user is None or not req.user.gated_access):
        if req.user is None:
            message = (
                f"Access to model {repo.id} is restricted. You must have access to it "
                "and be authenticated to access it. Please log in."
            )
            return hub_error(401, message, "GatedRepo")
        message = (
            f"Access to model {repo.id} is restricted and you are not in the authorized "
            f"list. Visit https://huggingface.co/{repo.id} to ask for access."
        )
        return hub_error(403, message, "GatedRepo")
    commit = _resolve(repo, revision)
    if isinstance(commit, Response):
        return commit
    path = "/".join(path_parts)
    entry = commit.files.get(path)
    if entry is None:
        missing = hub_error(404, "Entry not found", "EntryNotFound")
        # The client caches "absent at this commit" under .no_exist/<commit> from this header.
        missing.headers["X-Repo-Commit"] = commit.sha
        return missing
    headers = {"X-Repo-Commit": commit.sha, "Accept-Ranges": "bytes", "Vary": "Origin, Accept"}
    if entry.lfs:
        location = cdn_location(req, repo.id, entry.sha256, path)
        body = f"Found. Redirecting to {location}".encode()
        headers |= {
            "Location": location,
            "ETag": f'"{entry.oid}"',
            "X-Linked-Etag": f'"{entry.sha256}"',
            "X-Linked-Size": str(entry.size),
            "Content-Type": "text/plain; charset=utf-8",
        }
        return Response(302, headers, body)
    headers |= {"ETag": f'"{entry.oid}"', "Content-Type": _content_type(path)}
    return _ranged(req, headers, entry.sha256, entry.size)


def _content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json; charset=utf-8"
    if path.endswith((".md", ".txt", ".gitattributes", ".py", ".yaml", ".yml")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _ranged(req: Request, headers: dict[str, str], sha256: str, size: int) -> Response:
    """A 200, or a 206/416 when a single ``bytes=`` range is asked for."""
    spec = req.headers.get("Range")
    if not spec:
        return Response(200, headers, blob=(sha256, 0, size))
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", spec.strip())
    if match is None or match.groups() == ("", ""):
        return Response(200, headers, blob=(sha256, 0, size))
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = min(size, int(last) + 1) if last else size
    if start >= size or end <= start:
        return Response(416, headers | {"Content-Range": f"bytes */{size}"})
    headers = headers | {"Content-Range": f"bytes {start}-{end - 1}/{size}"}
    return Response(206, headers, blob=(sha256, start, end))


def cdn(server: EmulatorServer, req: Request, parts: list[str]) -> Response | None:
    if req.method not in {"GET", "HEAD"} or len(parts) < 5 or parts[0] != "lfs":
        return None
    sha256 = parts[3]
    if req.headers.get("Authorization"):
        # S3 refuses a presigned URL that also carries an Authorization header.
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code>'
            b"<Message>Only one auth mechanism allowed</Message></Error>"
        )
        return Response(400, {"Content-Type": "application/xml"}, body)
    if req.arg("Signature") != _signature(req.path) or not server.store.blobs.has(sha256):
        body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        return Response(403, {"Content-Type": "application/xml"}, body)
    size = server.store.blobs.size(sha256)
    name = parts[-1]
    headers = {
        "ETag": f'"{sha256}"',
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}; filename=\"{name}\"",
        "Cache-Control": "public, max-age=604800, immutable",
    }
    return _ranged(req, headers, sha256, size)
