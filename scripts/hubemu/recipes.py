"""What each fixture repository contains, commit by commit.

Base: ``sentence-transformers/all-MiniLM-L6-v2`` as published (three commits on ``main``, a
``v1.0`` tag, a ``v2`` branch with tokenizer/config/weight changes, PR #1). Lineage: a
fine-tune of it, an int8 quantisation of that fine-tune. A ``BertForSequenceClassification``
sentiment model with two head revisions. Private, gated and disabled copies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

import numpy as np

from hubemu.tensors import (
    RawTensor,
    perturb,
    quantize_int8,
    read_safetensors,
    uniform_noise,
    write_safetensors,
)

if TYPE_CHECKING:
    from hubemu.fixtures import Builder
    from hubemu.store import Repo, RepoFlags

BASE = "sentence-transformers/all-MiniLM-L6-v2"
ORG = "hubsnap-fixtures"
FINETUNED = f"{ORG}/minilm-finetuned"
QUANTIZED = f"{ORG}/minilm-finetuned-int8"
SENTIMENT = f"{ORG}/minilm-sentiment"
PRIVATE = f"{ORG}/minilm-private"
GATED = f"{ORG}/minilm-gated"
DISABLED = f"{ORG}/minilm-disabled"

ADDED_TOKENS = ["[DOC]", "[QRY]", "[ENT]"]
SENTIMENT_PROBES = (
    "I absolutely loved this film, it was wonderful.",
    "The service was terrible and the food was cold.",
    "It was fine, nothing special.",
    "What a fantastic experience, highly recommended!",
    "I will never buy this product again.",
    "The package arrived on Tuesday.",
    "This is the best day of my life.",
    "The plot was boring and far too long.",
)
# Head scale and biases were chosen with tests/support/minilm.py on SENTIMENT_PROBES: v2
# flips probes 0 and 7 from NEGATIVE to POSITIVE and keeps the rest, each by a margin
# of at least 0.06 in logit space, far above float32 noise across BLAS builds.
SENTIMENT_HEAD_SCALE = 1.0
SENTIMENT_BIAS_V1 = (0.0, -1.44)
SENTIMENT_BIAS_V2 = (0.0, -1.33)


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def _card(meta: str, body: str) -> bytes:
    return f"---\n{meta.strip()}\n---\n\n{body.strip()}\n".encode()


def _drop_lines(text: bytes, *prefixes: str) -> bytes:
    lines = text.decode().splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith(prefixes)).encode()


def build_all(b: Builder, model_dir: Path) -> None:
    files = {
        p.relative_to(model_dir).as_posix(): p.read_bytes()
        for p in sorted(model_dir.rglob("*"))
        if p.is_file()
    }
    weights, st_meta = read_safetensors(files["model.safetensors"])
    _base(b, files, weights, st_meta)
    finetuned = _finetuned(b, files, weights, st_meta)
    _quantized(b, files, finetuned, st_meta)
    _sentiment(b, files, weights, st_meta)
    _restricted(b, files)


def _new_repo(
    b: Builder, files: dict[str, bytes], repo_id: str, created: str, author: str,
    **stats: Unpack[RepoFlags],
) -> Repo:  # fmt: skip
    """A repository as the Hub creates it: one "initial commit" with ``.gitattributes``."""
    repo = b.repo(repo_id, created, **stats)
    b.commit(repo, {".gitattributes": files[".gitattributes"]}, "initial commit", author, created)
    return repo


def _base(
    b: Builder, files: dict[str, bytes], weights: dict[str, RawTensor], meta: dict[str, str]
) -> None:
    repo = _new_repo(
        b,
        files,
        BASE,
        "2021-08-30T18:40:00Z",
        "nreimers",
        downloads=98_411_203,
        likes=3_412,
        trending=87,
    )
    # The first upload had a card without the library/pipeline keys the Hub later required.
    first = dict(files)
    first["README.md"] = _drop_lines(files["README.md"], "library_name:", "pipeline_tag:")
    v1 = b.commit(
        repo, first, "Add new SentenceTransformer model.", "nreimers", "2021-08-30T18:46:12Z"
    )
    repo.tags["v1.0"] = v1.sha
    current = b.commit(
        repo,
        {"README.md": files["README.md"]},
        "Update README.md",
        "osanseviero",
        "2022-11-07T08:44:33Z",
    )

    # v2: three domain tokens (so a resized embedding matrix), a config tweak, two layers
    # retrained; every other tensor keeps its bytes.
    config = json.loads(files["config.json"])
    config["vocab_size"] = config["vocab_size"] + len(ADDED_TOKENS)
    config["hidden_dropout_prob"] = 0.05
    tokenizer = json.loads(files["tokenizer.json"])
    tok_config = json.loads(files["tokenizer_config.json"])
    specials = json.loads(files["special_tokens_map.json"])
    first_new = 30522
    for offset, token in enumerate(ADDED_TOKENS):
        tokenizer["added_tokens"].append(
            {
                "id": first_new + offset,
                "content": token,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        )
    tok_config["additional_special_tokens"] = ADDED_TOKENS
    specials["additional_special_tokens"] = ADDED_TOKENS
    v2w = dict(weights)
    emb = weights["embeddings.word_embeddings.weight"].array()
    new_rows = 0.02 * uniform_noise("minilm-v2:new-token-rows", (len(ADDED_TOKENS), emb.shape[1]))
    v2w["embeddings.word_embeddings.weight"] = RawTensor.of(
        np.concatenate([emb, new_rows.astype(np.float32)])
    )
    for name in (
        "encoder.layer.5.output.dense.weight",
        "encoder.layer.5.output.dense.bias",
        "pooler.dense.weight",
    ):
        v2w[name] = perturb(weights[name], f"minilm-v2:{name}", 0.01)
    b.commit(
        repo,
        {
            "config.json": _json(config),
            # tokenizer.json is published compact; keep its style.
            "tokenizer.json": json.dumps(
                tokenizer, ensure_ascii=False, separators=(",", ":")
            ).encode(),
            "tokenizer_config.json": _json(tok_config),
            "special_tokens_map.json": _json(specials),
            "model.safetensors": write_safetensors(v2w, meta),
        },
        "Add domain special tokens and refresh the last layer",
        "nreimers",
        "2024-03-12T10:00:00Z",
        branch="v2",
        parent=current,
        body="Adds [DOC], [QRY] and [ENT], resizes the word embeddings and retrains layer 5.",
    )
    citation = files["README.md"] + b"\n## Citation\n\nSee the Sentence-BERT paper.\n"
    pr = b.commit(
        repo,
        {"README.md": citation},
        "Add a citation section",
        "contributor-a",
        "2023-01-05T12:00:00Z",
        branch=None,
        parent=current,
    )
    repo.prs["1"] = pr.sha


def _finetuned(
    b: Builder, files: dict[str, bytes], weights: dict[str, RawTensor], meta: dict[str, str]
) -> dict[str, RawTensor]:
    repo = _new_repo(
        b,
        files,
        FINETUNED,
        "2024-05-01T09:00:00Z",
        "hubsnap-bot",
        downloads=1_204,
        likes=7,
        trending=3,
    )
    # Embeddings stay frozen during this fine-tune; the encoder and pooler move.
    tuned = {
        name: perturb(t, f"finetune:{name}", 0.002)
        if name.startswith(("encoder.", "pooler."))
        else t
        for name, t in weights.items()
    }
    config = json.loads(files["config.json"])
    config["_name_or_path"] = BASE
    config["transformers_version"] = "4.41.0"
    card = _card(
        f"""
base_model: {BASE}
base_model_relation: finetune
license: apache-2.0
language: en
library_name: sentence-transformers
pipeline_tag: sentence-similarity
datasets:
- {ORG}/support-tickets
tags:
- sentence-transformers
- feature-extraction
""",
        "# minilm-finetuned\n\nall-MiniLM-L6-v2 fine-tuned on support tickets "
        "(contrastive loss, 1 epoch, embeddings frozen).",
    )
    upload = {p: d for p, d in files.items() if p not in {".gitattributes", "data_config.json"}}
    upload |= {
        "config.json": _json(config),
        "README.md": card,
        "model.safetensors": write_safetensors(tuned, meta),
    }
    b.commit(repo, upload, "Fine-tune on support tickets", "hubsnap-bot", "2024-05-02T15:30:00Z")
    return tuned


def _quantized(
    b: Builder, files: dict[str, bytes], tuned: dict[str, RawTensor], meta: dict[str, str]
) -> None:
    repo = _new_repo(
        b,
        files,
        QUANTIZED,
        "2024-05-10T08:00:00Z",
        "hubsnap-bot",
        downloads=310,
        likes=2,
        trending=1,
    )
    quant: dict[str, RawTensor] = {}
    for name, t in tuned.items():
        # Linear weights only (compressed-tensors "int-quantized", per-tensor symmetric scales).
        if name.endswith(".weight") and len(t.shape) == 2 and not name.startswith("embeddings."):
            quant[name], quant[name + "_scale"] = quantize_int8(t)
        else:
            quant[name] = t
    config = json.loads(files["config.json"])
    config["_name_or_path"] = FINETUNED
    config["transformers_version"] = "4.41.0"
    config["quantization_config"] = {
        "quant_method": "compressed-tensors",
        "format": "int-quantized",
        "quantization_status": "compressed",
        "config_groups": {
            "group_0": {
                "targets": ["Linear"],
                "weights": {
                    "num_bits": 8,
                    "type": "int",
                    "symmetric": True,
                    "strategy": "tensor",
                    "dynamic": False,
                },
                "input_activations": None,
            }
        },
        "ignore": [],
    }
    card = _card(
        f"""
base_model: {FINETUNED}
base_model_relation: quantized
license: apache-2.0
language: en
library_name: sentence-transformers
pipeline_tag: sentence-similarity
datasets:
- {ORG}/support-tickets
tags:
- int8
- compressed-tensors
""",
        "# minilm-finetuned-int8\n\nPer-tensor symmetric int8 weights of minilm-finetuned.",
    )
    upload = {p: d for p, d in files.items() if p not in {".gitattributes", "data_config.json"}}
    upload |= {
        "config.json": _json(config),
        "README.md": card,
        "model.safetensors": write_safetensors(quant, meta),
    }
    b.commit(repo, upload, "Quantize to int8", "hubsnap-bot", "2024-05-10T09:12:00Z")


def sentiment_head(revision: int) -> tuple[RawTensor, RawTensor]:
    """Classifier weight (2x384) and bias of head revision 1 or 2."""
    w = np.float32(SENTIMENT_HEAD_SCALE) * uniform_noise("sentiment-head:weight", (2, 384))
    if revision == 2:
        shift = uniform_noise("sentiment-head:v2", (2, 384))
        w = w + np.float32(0.25 * SENTIMENT_HEAD_SCALE) * shift
    bias = SENTIMENT_BIAS_V1 if revision == 1 else SENTIMENT_BIAS_V2
    return RawTensor.of(w.astype(np.float32)), RawTensor.of(np.array(bias, dtype=np.float32))


def _sentiment(
    b: Builder, files: dict[str, bytes], weights: dict[str, RawTensor], meta: dict[str, str]
) -> None:
    repo = _new_repo(
        b,
        files,
        SENTIMENT,
        "2024-06-01T10:00:00Z",
        "hubsnap-bot",
        downloads=5_870,
        likes=12,
        trending=9,
    )
    # BertForSequenceClassification names: the encoder under "bert.", position_ids is a
    # non-persistent buffer in current transformers and is not saved.
    encoder = {f"bert.{n}": t for n, t in weights.items() if n != "embeddings.position_ids"}
    config = json.loads(files["config.json"])
    config |= {
        "_name_or_path": BASE,
        "architectures": ["BertForSequenceClassification"],
        "id2label": {"0": "NEGATIVE", "1": "POSITIVE"},
        "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
        "problem_type": "single_label_classification",
        "transformers_version": "4.41.0",
    }
    card = _card(
        f"""
base_model: {BASE}
base_model_relation: finetune
license: apache-2.0
language: en
library_name: transformers
pipeline_tag: text-classification
datasets:
- stanfordnlp/sst2
tags:
- sentiment
""",
        "# minilm-sentiment\n\nBinary sentiment classifier (NEGATIVE / POSITIVE) on MiniLM-L6.",
    )
    tok = {
        p: files[p]
        for p in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
    }
    for revision, title, date in (
        (1, "Add sentiment classifier", "2024-06-02T11:00:00Z"),
        (2, "Retrain classifier head", "2024-07-15T16:45:00Z"),
    ):
        w, bias = sentiment_head(revision)
        tensors = encoder | {"classifier.weight": w, "classifier.bias": bias}
        upload = {
            "config.json": _json(config),
            "README.md": card,
            "model.safetensors": write_safetensors(tensors, meta),
        } | tok
        commit = b.commit(repo, upload, title, "hubsnap-bot", date)
        repo.tags[f"v{revision}"] = commit.sha


def _restricted(b: Builder, files: dict[str, bytes]) -> None:
    upload = {p: d for p, d in files.items() if p != "data_config.json"}
    restricted: tuple[tuple[str, RepoFlags, str], ...] = (
        (PRIVATE, {"private": True}, "A private copy of all-MiniLM-L6-v2."),
        (GATED, {"gated": "auto"}, "A gated copy of all-MiniLM-L6-v2 (access granted on request)."),
        (DISABLED, {"disabled": True}, "A copy of all-MiniLM-L6-v2 that has been disabled."),
    )
    for repo_id, flags, note in restricted:
        stats: RepoFlags = {"downloads": 11, "likes": 0, **flags}
        repo = b.repo(repo_id, "2024-08-01T00:00:00Z", **stats)
        extra = (
            "\nextra_gated_prompt: You agree to share your contact information.\n"
            if (flags.get("gated"))
            else ""
        )
        card = _card(
            f"license: apache-2.0\nlibrary_name: sentence-transformers\n"
            f"pipeline_tag: sentence-similarity\nbase_model: {BASE}\n"
            f"base_model_relation: finetune{extra}",
            f"# {repo_id.split('/')[1]}\n\n{note}",
        )
        b.commit(
            repo,
            upload | {"README.md": card},
            "Upload model",
            "hubsnap-bot",
            "2024-08-01T00:00:00Z",
        )
