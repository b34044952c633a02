"""The entailment cross-encoder: does a learner's text state, deny, or not address a claim?

MiniLM (the encoder in `embedding.py`) reads the pair "[CLS] learner text [SEP] claim [SEP]"
with low-rank adapters and a classifier head trained by `learnloop train-grader` on the public
short-answer training splits and stance pairs made from them (`learnloop.evaluation.training`).
Only the adapters, the layer norms and the head are ours (`entailment.safetensors`, ~3 MB);
the base weights are the model package's, so nothing is downloaded. The file's sha256 is
checked at load against `entailment.sha256`, written by the same command (`ai.weights`).

Like the bi-encoder it runs in plain numpy: no PyTorch in the serving path.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from learnloop.ai.embedding import MiniLM, _Layer, _pack, get_encoder, model_dir
from learnloop.ai.weights import verified_bytes

Array = npt.NDArray[np.float32]
LABELS = ("entails", "contradicts", "neutral")
WEIGHTS_FILE = "entailment.safetensors"
# Pairs packed per row; see `MiniLM.encode` for why packing costs nothing in accuracy.
_PACK_TOKENS = 256
_BATCH_ROWS = 16
PAIR_TOKENS = 128  # as in training (`learnloop.evaluation.training.EntailmentConfig`)


class WeightsLabelsError(RuntimeError):
    """The adapter file was trained for other labels than this code reads."""


def _adapted_layers(
    base: dict[str, Array], tuned: dict[str, Array], scale: float, count: int
) -> list[_Layer]:
    """The encoder's layers with the adapters merged in: W + scale * B @ A, and the tuned
    layer norms. The bi-encoder keeps its own, unmodified layers."""
    weights = dict(base)
    for name in list(tuned):
        if name.startswith("lora_a."):
            target = name.removeprefix("lora_a.")
            delta = tuned[f"lora_b.{target}"] @ tuned[name] * np.float32(scale)
            weights[target] = (base[target] + delta).astype(np.float32)
        elif name.startswith("replace."):
            weights[name.removeprefix("replace.")] = tuned[name]
    return [_Layer(weights, f"encoder.layer.{i}.") for i in range(count)]


class CrossEncoder:
    """P(entails), P(contradicts), P(neutral) for (premise, hypothesis) pairs."""

    def __init__(self, encoder: MiniLM | None = None, weights: Path | None = None) -> None:
        from safetensors.numpy import load, load_file

        # The shipped file is checked against its digest; a file given by path (a freshly
        # trained one, in `learnloop train-grader`) is the caller's.
        data = (
            weights.read_bytes()
            if weights is not None
            else verified_bytes("learnloop.grading", WEIGHTS_FILE)
        )
        self.encoder = encoder or get_encoder()
        tuned = {k: v.astype(np.float32) for k, v in load(data).items()}
        meta = json.loads(bytes(tuned.pop("meta").astype(np.uint8)).decode())
        base = {
            name: tensor.astype(np.float32, copy=False)
            for name, tensor in load_file(str(model_dir() / "model.safetensors")).items()
        }
        self.layers = _adapted_layers(base, tuned, float(meta["scale"]), len(self.encoder.layers))
        self.pool_w = np.ascontiguousarray(tuned["pooler.dense.weight"].T)
        self.pool_b = tuned["pooler.dense.bias"]
        self.head_w = np.ascontiguousarray(tuned["classifier.weight"].T)
        self.head_b = tuned["classifier.bias"]
        self.labels = tuple(meta["labels"])
        if self.labels != LABELS:
            raise WeightsLabelsError(f"{WEIGHTS_FILE} was trained for labels {self.labels}")
        # Pairs are cut to the length the model was trained on, the longer text first.
        self.tokenizer = copy.deepcopy(self.encoder.tokenizer)
        self.tokenizer.enable_truncation(max_length=PAIR_TOKENS, strategy="longest_first")
        self._lock = threading.Lock()

    def pair_ids(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        encodings = self.tokenizer.encode_batch([(a, b) for a, b in pairs])
        return [(list(e.ids), list(e.type_ids)) for e in encodings]

    def logits(self, pairs: Sequence[tuple[str, str]]) -> Array:
        out = np.zeros((len(pairs), len(LABELS)), dtype=np.float32)
        if not pairs:
            return out
        encoded = self.pair_ids(pairs)

        packs = _pack([len(ids) for ids, _ in encoded], _PACK_TOKENS)
        with self._lock:
            for start in range(0, len(packs), _BATCH_ROWS):
                chunk = packs[start : start + _BATCH_ROWS]
                ids = [[encoded[i][0] for i in pack] for pack in chunk]
                types = [[encoded[i][1] for i in pack] for pack in chunk]
                hidden, spans = self.encoder.hidden_packed(ids, types, self.layers)
                cls = np.stack([hidden[row, begin] for row, begin, _ in spans])
                pooled = np.tanh(cls @ self.pool_w + self.pool_b)
                out[[i for pack in chunk for i in pack]] = pooled @ self.head_w + self.head_b
        return out

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> Array:
        z = self.logits(pairs)
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z


_load_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load() -> CrossEncoder:
    return CrossEncoder()


def get_cross_encoder() -> CrossEncoder:
    with _load_lock:
        return _load()
