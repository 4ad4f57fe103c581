"""The Hub's JSON shapes: model info, listing items, tree entries, refs and commits.

Field names, casing and which fields appear by default versus with ``full``/``expand``/
``blobs`` follow what huggingface.co returns, because ``huggingface_hub`` parses them as is.
Derived metadata (card, config summary, tags, safetensors counts) is cached per blob.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

import yaml

from hubemu.store import BlobStore, Commit, FileEntry, Repo, iso
from hubemu.tensors import parameter_counts

Json = dict[str, Any]
LISTING_DEFAULT = (
    "_id",
    "id",
    "likes",
    "trendingScore",
    "private",
    "downloads",
    "tags",
    "pipeline_tag",
    "library_name",
    "createdAt",
    "modelId",
)
LISTING_FULL = (*LISTING_DEFAULT, "author", "gated", "lastModified", "sha", "disabled", "siblings")
INFO_DEFAULT = (
    "_id",
    "id",
    "modelId",
    "author",
    "sha",
    "lastModified",
    "private",
    "disabled",
    "gated",
    "downloads",
    "likes",
    "library_name",
    "tags",
    "pipeline_tag",
    "mask_token",
    "cardData",
    "config",
    "transformersInfo",
    "siblings",
    "spaces",
    "createdAt",
    "safetensors",
    "usedStorage",
    "widgetData",
    "model-index",
)


class Views:
    """Renders repositories as Hub JSON, reading only small blobs and safetensors headers."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one Views per process
    def card(self, sha256: str) -> Json:
        text = self.blobs.read(sha256).decode("utf-8", "replace")
        if not text.startswith("---"):
            return {}
        front = text.split("---", 2)
        try:
            data = yaml.safe_load(front[1]) if len(front) == 3 else None
        except yaml.YAMLError:
            return {}
        return data if isinstance(data, dict) else {}

    @functools.lru_cache(maxsize=1024)  # noqa: B019
    def json_file(self, sha256: str) -> Json:
        try:
            data = json.loads(self.blobs.read(sha256))
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @functools.lru_cache(maxsize=256)  # noqa: B019
    def parameters(self, sha256: str) -> dict[str, int]:
        head = self.blobs.read(sha256, 0, 8)
        length = int.from_bytes(head, "little")
        return parameter_counts(self.blobs.read(sha256, 0, 8 + length))

    def _file_json(self, commit: Commit, path: str) -> Json:
        entry = commit.files.get(path)
        return self.json_file(entry.sha256) if entry else {}

    def card_data(self, commit: Commit) -> Json:
        entry = commit.files.get("README.md")
        return self.card(entry.sha256) if entry else {}

    def config_summary(self, commit: Commit) -> Json | None:
        """The Hub's condensed ``config``: architectures, model_type, tokenizer specials."""
        config = self._file_json(commit, "config.json")
        if not config:
            return None
        out: Json = {k: config[k] for k in ("architectures", "model_type") if k in config}
        if "quantization_config" in config:
            out["quantization_config"] = config["quantization_config"]
        tok = self._file_json(commit, "tokenizer_config.json")
        specials = {
            k: tok[k]
            for k in (
                "unk_token",
                "sep_token",
                "pad_token",
                "cls_token",
                "mask_token",
                "bos_token",
                "eos_token",
            )
            if k in tok
        }
        if specials:
            out["tokenizer_config"] = specials
        return out

    def pipeline_tag(self, commit: Commit) -> str | None:
        card = self.card_data(commit)
        if isinstance(card.get("pipeline_tag"), str):
            return str(card["pipeline_tag"])
        if card.get("library_name") == "sentence-transformers" or "modules.json" in commit.files:
            return "sentence-similarity"
        archs = self._file_json(commit, "config.json").get("architectures") or []
        if any(str(a).endswith("ForSequenceClassification") for a in archs):
            return "text-classification"
        return "feature-extraction" if archs else None

    def library_name(self, commit: Commit) -> str | None:
        card = self.card_data(commit)
        if isinstance(card.get("library_name"), str):
            return str(card["library_name"])
        if "modules.json" in commit.files:
            return "sentence-transformers"
        return "transformers" if "config.json" in commit.files else None

    def tags(self, commit: Commit) -> list[str]:
        """Tags the way the Hub derives them from card, config and files."""
        card = self.card_data(commit)
        out: list[str] = []

        def add(*values: object) -> None:
            for v in values:
                if isinstance(v, str) and v and v not in out:
                    out.append(v)

        add(self.library_name(commit))
        add(*(card.get("tags") or []))
        if any(p.endswith(".safetensors") for p in commit.files):
            add("safetensors")
        add(self._file_json(commit, "config.json").get("model_type"))
        add(self.pipeline_tag(commit))
        langs = card.get("language")
        add(*(langs if isinstance(langs, list) else [langs]))
        add(*(f"dataset:{d}" for d in card.get("datasets") or []))
        bases = card.get("base_model")
        relation = card.get("base_model_relation")
        for base in bases if isinstance(bases, list) else [bases] if bases else []:
            add(f"base_model:{base}")
            if relation:
                add(f"base_model:{relation}:{base}")
        if card.get("license"):
            add(f"license:{card['license']}")
        add("region:us")
        return out

    def safetensors(self, commit: Commit) -> Json | None:
        counts: dict[str, int] = {}
        for path, entry in commit.files.items():
            if path.endswith(".safetensors"):
                for dtype, n in self.parameters(entry.sha256).items():
                    counts[dtype] = counts.get(dtype, 0) + n
        return {"parameters": counts, "total": sum(counts.values())} if counts else None

    @staticmethod
    def sibling(entry: FileEntry, blobs: bool) -> Json:
        out: Json = {"rfilename": entry.path}
        if blobs:
            out |= {"blobId": entry.oid, "size": entry.size}
            if entry.lfs:
                out["lfs"] = {
                    "sha256": entry.sha256,
                    "size": entry.size,
                    "pointerSize": entry.pointer_size,
                }
        return out

    def field(self, repo: Repo, commit: Commit, name: str, blobs: bool = False) -> Any:
        """One model-info property, by the name the Hub uses for it (and for ``expand``)."""
        simple: dict[str, Any] = {
            "_id": object_id(repo),
            "id": repo.id,
            "modelId": repo.id,
            "author": repo.author,
            "sha": commit.sha,
            "lastModified": commit.date,
            "createdAt": iso(repo.created_epoch),
            "private": repo.private,
            "disabled": repo.disabled,
            "gated": repo.gated,
            "downloads": repo.downloads,
            "downloadsAllTime": repo.downloads * 7,
            "likes": repo.likes,
            "trendingScore": repo.trending,
            "spaces": [],
            "widgetData": None,
            "model-index": None,
        }
        if name in simple:
            return simple[name]
        if name == "siblings":
            return [self.sibling(e, blobs) for e in commit.files.values()]
        if name == "tags":
            return self.tags(commit)
        if name == "pipeline_tag":
            return self.pipeline_tag(commit)
        if name == "library_name":
            return self.library_name(commit)
        if name == "cardData":
            return self.card_data(commit) or None
        if name == "config":
            return self.config_summary(commit)
        if name == "safetensors":
            return self.safetensors(commit)
        if name == "usedStorage":
            return repo.used_storage()
        if name == "mask_token":
            return "[MASK]" if self.pipeline_tag(commit) == "fill-mask" else None
        if name == "transformersInfo":
            return self.transformers_info(commit)
        if name == "baseModels":
            card = self.card_data(commit)
            base = card.get("base_model")
            if not base:
                return None
            return {
                "relation": card.get("base_model_relation"),
                "models": [{"id": b} for b in (base if isinstance(base, list) else [base])],
            }
        return None

    def transformers_info(self, commit: Commit) -> Json | None:
        archs = self._file_json(commit, "config.json").get("architectures") or []
        if not archs:
            return None
        classify = any(str(a).endswith("ForSequenceClassification") for a in archs)
        return {
            "auto_model": "AutoModelForSequenceClassification" if classify else "AutoModel",
            "pipeline_tag": self.pipeline_tag(commit),
            "processor": "AutoTokenizer",
        }

    def model_info(self, repo: Repo, commit: Commit, blobs: bool, expand: list[str] | None) -> Json:
        names = ["_id", "id", *expand] if expand else list(INFO_DEFAULT)
        out = {n: self.field(repo, commit, n, blobs) for n in dict.fromkeys(names)}
        # Like the Hub, omit optional properties that have no value rather than send nulls.
        return {k: v for k, v in out.items() if v is not None or k in {"gated"}}

    def listing_item(self, repo: Repo, names: list[str]) -> Json:
        out = {n: self.field(repo, repo.head, n) for n in dict.fromkeys(names)}
        return {k: v for k, v in out.items() if v is not None}

    def tree_entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> Json:
        entry = commit.files.get(path)
        if entry is None:
            out: Json = {"type": "directory", "oid": commit.trees[path], "size": 0, "path": path}
        else:
            out = {"type": "file", "oid": entry.oid, "size": entry.size, "path": path}
            if entry.lfs:
                out["lfs"] = {
                    "oid": entry.sha256,
                    "size": entry.size,
                    "pointerSize": entry.pointer_size,
                }
        if expand:
            last = repo.last_change(commit, path, entry is None)
            out["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date}
            if entry is not None:
                out["securityFileStatus"] = {
                    "status": "safe",
                    "avScan": {"virusFound": False, "virusNames": None},
                    "pickleImportScan": {"highestSafetyLevel": "innocuous", "imports": []},
                }
        return out

    @staticmethod
    def commit_item(commit: Commit) -> Json:
        return {
            "id": commit.sha,
            "title": commit.title,
            "message": commit.body,
            "authors": [{"user": commit.author, "avatar": _avatar(commit.author)}],
            "date": commit.date,
        }

    @staticmethod
    def refs(repo: Repo, include_prs: bool) -> Json:
        def ref(kind: str, name: str, sha: str) -> Json:
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": sha}

        out: Json = {
            "branches": [ref("heads", n, s) for n, s in sorted(repo.branches.items())],
            "converts": [],
            "tags": [ref("tags", n, s) for n, s in sorted(repo.tags.items())],
        }
        if include_prs:
            out["pullRequests"] = [
                {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": s}
                for n, s in sorted(repo.prs.items(), key=lambda kv: int(kv[0]))
            ]
        return out


def _avatar(user: str) -> str:
    return f"/avatars/{hashlib.md5(user.encode(), usedforsecurity=False).hexdigest()}.svg"


def object_id(repo: Repo) -> str:
    """A MongoDB-style id like the Hub's ``_id``: creation time, then stable hash bytes."""
    tail = hashlib.sha1(repo.id.encode(), usedforsecurity=False).hexdigest()[:16]
    return f"{repo.created_epoch:08x}{tail}"
