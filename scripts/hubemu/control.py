"""The test control API under ``/_emulator/`` (not a Hub endpoint).

It lets tests publish commits (moving a branch, as a Hub push would), create repos and
refs, flip repo flags, arm and clear faults, read request counters, register webhook
receivers, and reset everything to the built fixtures. All bodies are JSON:

    POST   /_emulator/reset                                  drop every run-time change
    POST   /_emulator/repos/{ns}/{name}/commits/{branch}     {files: [{path, content_b64 |
           text | copy_from: {repo_id, revision, path} | delete: true}], title, message,
           author, date, parent_revision}  -> {commitOid, ...}; fires webhooks
    POST   /_emulator/repos                                  {repo_id, private, gated, date}
    GET    /_emulator/repos/{ns}/{name}                      branches, tags, PRs, history
    POST   /_emulator/repos/{ns}/{name}/settings             {private, gated, disabled}
    PUT    /_emulator/repos/{ns}/{name}/refs/{heads|tags}/{n} {target: revision}
    DELETE /_emulator/repos/{ns}/{name}/refs/{heads|tags}/{n}
    GET|POST|DELETE /_emulator/faults                        {pattern (regex on the path),
           kind: "429"|"500"|"503"|...|truncate|corrupt|delay|throttle|ignore_range, count,
           method, retry_after, truncate_at, delay, rate (bytes/s, for throttle)}
    GET    /_emulator/requests?contains=S&method=GET         {count, ranged, bytes}; DELETE
           resets them
    GET    /_emulator/requests/log
    POST|DELETE /_emulator/webhooks                          {url, secret}
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from hubemu.server import Request, Response, json_response
from hubemu.store import Commit, Repo, parse_iso
from hubemu.views import object_id

if TYPE_CHECKING:
    from hubemu.server import EmulatorServer


def route(server: EmulatorServer, req: Request) -> Response | None:
    if not req.path.startswith("/_emulator/"):
        return None
    parts = [unquote(p) for p in req.path.split("/")[2:]]
    try:
        return _route(server, req, parts)
    except (KeyError, ValueError, TypeError, FileNotFoundError) as exc:
        return json_response({"error": f"{type(exc).__name__}: {exc}"}, 400)


def _route(server: EmulatorServer, req: Request, parts: list[str]) -> Response | None:
    store, faults = server.store, server.faults
    method = req.method
    if parts == ["health"]:
        return json_response({"ok": True})
    if parts == ["reset"] and method == "POST":
        store.reset()
        faults.clear()
        faults.reset_counts()
        server.webhooks.clear()
        return json_response({"ok": True})
    if parts == ["faults"]:
        if method == "POST":
            return json_response(faults.add(req.json()).to_json(), 201)
        if method == "DELETE":
            faults.clear()
            return json_response({"ok": True})
        return json_response(faults.armed())
    if parts == ["requests"]:
        if method == "DELETE":
            faults.reset_counts()
            return json_response({"ok": True})
        return json_response(faults.count(req.arg("contains") or "", req.arg("method")))
    if parts == ["requests", "log"]:
        return json_response(faults.log())
    if parts == ["webhooks"]:
        if method == "POST":
            hook = req.json()
            server.webhooks.append({"url": str(hook["url"]), "secret": str(hook.get("secret", ""))})
            return json_response({"ok": True}, 201)
        if method == "DELETE":
            server.webhooks.clear()
            return json_response({"ok": True})
    if parts == ["repos"] and method == "POST":
        spec = req.json()
        created = store.create_repo(
            str(spec["repo_id"]),
            parse_iso(spec.get("date", "2025-01-01T00:00:00Z")),
            private=bool(spec.get("private", False)),
            gated=spec.get("gated", False),
            disabled=bool(spec.get("disabled", False)),
        )
        return json_response(_summary(created), 201)
    if parts[:1] == ["repos"] and len(parts) >= 3:
        repo = store.get(f"{parts[1]}/{parts[2]}")
        if repo is None:
            return json_response({"error": f"no repository {parts[1]}/{parts[2]}"}, 404)
        return _repo_route(server, req, repo, parts[3:])
    return None


def _repo_route(
    server: EmulatorServer, req: Request, repo: Repo, rest: list[str]
) -> Response | None:
    store = server.store
    if not rest and req.method == "GET":
        return json_response(_summary(repo))
    if rest == ["settings"] and req.method == "POST":
        spec = req.json()
        with store.lock:
            for key in ("private", "gated", "disabled"):
                if key in spec:
                    setattr(repo, key, spec[key])
        return json_response(_summary(repo))
    if rest[:1] == ["commits"] and len(rest) >= 2 and req.method == "POST":
        branch = "/".join(rest[1:])
        old = repo.branches.get(branch)
        commit = _publish(server, repo, branch, req.json())
        deliveries = _notify(server, req, repo, branch=branch, old=old, commit=commit)
        return json_response(
            {
                "commitOid": commit.sha,
                "commitUrl": f"http://{req.host}/{repo.id}/commit/{commit.sha}",
                "branch": branch,
                "parent": commit.parents[0] if commit.parents else None,
                "webhooks": deliveries,
            },
            201,
        )
    if rest[:1] == ["refs"] and len(rest) >= 3:
        kind, name = rest[1], "/".join(rest[2:])
        refs = {"heads": repo.branches, "tags": repo.tags}.get(kind)
        if refs is None:
            return json_response({"error": "ref kind must be heads or tags"}, 400)
        with store.lock:
            if req.method == "DELETE":
                if kind == "heads" and name == "main":
                    raise ValueError("main cannot be deleted")
                refs.pop(name)
                return json_response(_summary(repo))
            if req.method == "PUT":
                target = repo.resolve(str(req.json()["target"]))
                if target is None:
                    raise KeyError("target revision not found")
                refs[name] = target.sha
                return json_response(_summary(repo))
    return None


def _publish(server: EmulatorServer, repo: Repo, branch: str, spec: dict[str, Any]) -> Commit:
    store = server.store
    changes: dict[str, tuple[str, int] | None] = {}
    for item in spec.get("files", []):
        path = str(item["path"]).strip("/")
        if item.get("delete"):
            changes[path] = None
        elif "content_b64" in item:
            changes[path] = store.blobs.put(base64.b64decode(item["content_b64"]))
        elif "text" in item:
            changes[path] = store.blobs.put(str(item["text"]).encode())
        elif "copy_from" in item:
            src = item["copy_from"]
            src_repo = store.get(str(src["repo_id"]))
            commit = src_repo.resolve(str(src.get("revision", "main"))) if src_repo else None
            entry = commit.files.get(str(src.get("path", path))) if commit else None
            if entry is None:
                raise FileNotFoundError(f"copy_from source not found: {src}")
            changes[path] = (entry.sha256, entry.size)
        else:
            raise ValueError(f"file {path}: give content_b64, text, copy_from or delete")
    date = spec.get("date")
    return store.publish(
        repo,
        branch,
        changes,
        title=str(spec.get("title") or "Upload files"),
        author=str(spec.get("author") or "hubsnap-emulator"),
        epoch=parse_iso(date) if date else None,
        body=str(spec.get("message") or ""),
        parent_revision=spec.get("parent_revision"),
    )


def _notify(
    server: EmulatorServer,
    req: Request,
    repo: Repo,
    *,
    branch: str,
    old: str | None,
    commit: Commit,
) -> list[dict[str, Any]]:
    """Deliver a Hub ``repo.content`` webhook (payload version 3) to each receiver."""
    payload = {
        "event": {"action": "update", "scope": "repo.content"},
        "repo": {
            "type": "model",
            "name": repo.id,
            "id": object_id(repo),
            "private": repo.private,
            "url": {
                "web": f"http://{req.host}/{repo.id}",
                "api": f"http://{req.host}/api/models/{repo.id}",
            },
            "headSha": repo.branches.get("main"),
            "owner": {"id": object_id(repo)[:24]},
        },
        "webhook": {"id": "6565656565656565656565ee", "version": 3},
        "updatedRefs": [{"ref": f"refs/heads/{branch}", "oldSha": old, "newSha": commit.sha}],
    }
    results = []
    for hook in list(server.webhooks):
        request = urllib.request.Request(
            hook["url"],
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "X-Webhook-Secret": hook["secret"]},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                results.append({"url": hook["url"], "status": resp.status})
        except urllib.error.HTTPError as exc:
            results.append({"url": hook["url"], "status": exc.code})
        except OSError as exc:
            results.append({"url": hook["url"], "error": str(exc)})
    return results


def _summary(repo: Repo) -> dict[str, Any]:
    return {
        "id": repo.id,
        "private": repo.private,
        "gated": repo.gated,
        "disabled": repo.disabled,
        "branches": dict(repo.branches),
        "tags": dict(repo.tags),
        "pullRequests": {f"refs/pr/{n}": s for n, s in repo.prs.items()},
        "commits": [
            {"id": c.sha, "title": c.title, "date": c.date} for c in repo.history(repo.head)
        ],
    }
