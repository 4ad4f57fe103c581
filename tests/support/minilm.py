"""A reference NumPy forward pass of the MiniLM-L6 BERT encoder, for behaviour checks.

It reproduces what ``transformers``' ``BertModel`` / ``BertForSequenceClassification`` compute
(exact erf GELU, post-LayerNorm blocks, tanh pooler over ``[CLS]``) and what
sentence-transformers' all-MiniLM-L6-v2 pipeline adds (mask-aware mean pooling, L2
normalisation), so tests can compare revisions by behaviour without torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from tokenizers import Tokenizer

Array = npt.NDArray[np.float32]
_erf = np.frompyfunc(math.erf, 1, 1)


def _f32(x: object) -> Array:
    return np.asarray(x, dtype=np.float32)


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return _f32((x - mean) / np.sqrt(var + eps) * weight + bias)


def _gelu(x: Array) -> Array:
    # transformers' "gelu" is the exact erf form, not the tanh approximation.
    return _f32(0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float32)))


def _softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return _f32(e / e.sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class MiniLM:
    """Weights (keys without the ``bert.`` prefix), config and tokenizer of one revision."""

    weights: dict[str, Array]
    config: dict[str, Any]  # the model's config.json
    tokenizer: Tokenizer

    @classmethod
    def from_dir(cls, directory: Path | str) -> MiniLM:
        """Load ``model.safetensors``, ``config.json`` and ``tokenizer.json`` from a snapshot."""
        root = Path(directory)
        raw = load_file(str(root / "model.safetensors"))
        weights = {k.removeprefix("bert."): v.astype(np.float32) for k, v in raw.items()}
        tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        # The packaged tokenizer pads to 128; the reference runs one sentence at a time.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=256)
        config = json.loads((root / "config.json").read_text())
        return cls(weights, config, tokenizer)

    @property
    def labels(self) -> list[str]:
        id2label = self.config.get("id2label")
        assert isinstance(id2label, dict)
        return [str(id2label[str(i)]) for i in range(len(id2label))]

    def hidden_states(self, text: str) -> Array:
        """Last-layer hidden states, shape ``(tokens, hidden)``."""
        w = self.weights
        eps = float(self.config.get("layer_norm_eps", 1e-12))
        heads = int(self.config.get("num_attention_heads", 12))
        enc = self.tokenizer.encode(text)
        ids = np.array(enc.ids)
        types = np.array(enc.type_ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(len(ids))]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        seq, hidden = x.shape
        head_dim = hidden // heads
        for i in range(int(self.config.get("num_hidden_layers", 6))):
            p = f"encoder.layer.{i}."

            def dense(v: Array, name: str, prefix: str = p) -> Array:
                out = v @ w[f"{prefix}{name}.weight"].T + w[f"{prefix}{name}.bias"]
                return out.astype(np.float32)

            def split(v: Array) -> Array:
                return v.reshape(seq, heads, head_dim).transpose(1, 0, 2)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            probs = _softmax(q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(head_dim)))
            ctx = (probs @ v).transpose(1, 0, 2).reshape(seq, hidden)
            x = _layer_norm(
                x + dense(ctx, "attention.output.dense"),
                w[f"{p}attention.output.LayerNorm.weight"],
                w[f"{p}attention.output.LayerNorm.bias"],
                eps,
            )
            inner = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                x + dense(inner, "output.dense"),
                w[f"{p}output.LayerNorm.weight"],
                w[f"{p}output.LayerNorm.bias"],
                eps,
            )
        return x

    def pooled(self, text: str) -> Array:
        """BERT's pooler output: ``tanh(dense(h[CLS]))``."""
        cls = self.hidden_states(text)[0]
        out = cls @ self.weights["pooler.dense.weight"].T + self.weights["pooler.dense.bias"]
        return _f32(np.tanh(out))

    def logits(self, texts: Sequence[str]) -> Array:
        """``BertForSequenceClassification`` logits, shape ``(len(texts), num_labels)``."""
        w, b = self.weights["classifier.weight"], self.weights["classifier.bias"]
        return np.stack([self.pooled(t) @ w.T + b for t in texts]).astype(np.float32)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The argmax label of each text."""
        names = self.labels
        return [names[int(i)] for i in self.logits(texts).argmax(axis=-1)]

    def embed(self, texts: Sequence[str]) -> Array:
        """all-MiniLM-L6-v2 sentence embeddings: mean over tokens, L2-normalised."""
        rows = []
        for t in texts:
            mean = self.hidden_states(t).mean(axis=0)
            rows.append(mean / np.linalg.norm(mean))
        return np.stack(rows).astype(np.float32)
