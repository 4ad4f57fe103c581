"""The Git LFS batch API (``POST /{repo}.git/info/lfs/objects/batch``), download side.

Answers with the ``basic`` transfer: each object the repository holds in LFS (at any of
its commits) gets a download action whose ``href`` is the same signed CDN URL ``resolve``
redirects to, on a different host name, so the bytes stream through the emulator's file
serving (ranges, counters and injected faults included) and a client that forwards its Hub
credentials off-Hub is refused. Unknown objects get a per-object 404 error, a wrong size a
422; uploads are refused with 403 (the emulator is read-only over git).
"""

from __future__ import annotations

import json
from typing import Any

from hubemu.hubapi import cdn_location
from hubemu.server import Request, Response
from hubemu.store import Repo

MEDIA_TYPE = "application/vnd.git-lfs+json"
EXPIRES_IN = 3600
MAX_OBJECTS = 10_000


def error(status: int, message: str) -> Response:
    """An LFS API error: ``{"message": ...}`` in the LFS media type."""
    body = json.dumps({"message": message}).encode()
    return Response(status, {"Content-Type": MEDIA_TYPE}, body)


def _lfs_objects(repo: Repo) -> dict[str, tuple[int, str]]:
    """Every LFS object of ``repo``: sha256 -> (size, a path it is stored at)."""
    found: dict[str, tuple[int, str]] = {}
    for commit in list(repo.commits.values()):
        for entry in commit.files.values():
            if entry.lfs:
                found.setdefault(entry.sha256, (entry.size, entry.path))
    return found


def batch(req: Request, repo: Repo) -> Response:
    try:
        spec = json.loads(req.body)
    except ValueError:
        return error(422, "request body is not JSON")
    if not isinstance(spec, dict) or not isinstance(spec.get("objects"), list):
        return error(422, "a batch request needs an operation and a list of objects")
    operation = spec.get("operation")
    if operation == "upload":
        return error(403, "Uploads to the Hub emulator are not supported.")
    if operation != "download":
        return error(422, f"unknown operation {operation!r}")
    transfers = spec.get("transfers") or ["basic"]
    if "basic" not in transfers:
        return error(422, "only the basic transfer adapter is supported")
    if len(spec["objects"]) > MAX_OBJECTS:
        return error(413, f"at most {MAX_OBJECTS} objects per batch")
    known = _lfs_objects(repo)
    objects: list[dict[str, Any]] = []
    for item in spec["objects"]:
        if not isinstance(item, dict):
            return error(422, "each object needs an oid and a size")
        oid, size = item.get("oid"), item.get("size")
        if not isinstance(oid, str) or not isinstance(size, int) or isinstance(size, bool):
            return error(422, "each object needs an oid and a size")
        answer: dict[str, Any] = {"oid": oid, "size": size}
        stored = known.get(oid)
        if stored is None:
            answer["error"] = {"code": 404, "message": "Object does not exist"}
        elif stored[0] != size:
            answer["error"] = {"code": 422, "message": f"Object size is {stored[0]}, not {size}"}
        else:
            href = cdn_location(req, repo.id, oid, stored[1])
            answer["authenticated"] = True
            answer["actions"] = {"download": {"href": href, "expires_in": EXPIRES_IN}}
        objects.append(answer)
    body = {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}
    return Response(200, {"Content-Type": MEDIA_TYPE}, json.dumps(body).encode())
