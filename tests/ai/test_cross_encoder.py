"""The numpy cross-encoder reads pairs as the PyTorch model it was exported from, and shipped
weights load only when they match their recorded digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from learnloop.ai.cross_encoder import LABELS, get_cross_encoder
from learnloop.ai.weights import WeightsDigestError, verified_bytes

PAIRS = [
    ("The image is never changed after it is built.", "Immutable images are never changed."),
    (
        "A full Ubuntu base image is more secure because it ships with a shell.",
        "Minimal base images leave out shells and package managers, shrinking the attack surface.",
    ),
    ("cats, dogs", "Readiness failures remove the Pod from the Service endpoints."),
    (
        "If the readiness probe fails, Kubernetes stops sending traffic to the pod but does "
        "not restart it, so the cache can finish loading. " * 3,
        "Readiness reflects whether the Pod can serve.",
    ),
]


def _torch_logits(pairs: list[tuple[str, str]]) -> np.ndarray:
    """The same model built in PyTorch: the package's MiniLM with the adapters merged."""
    import torch
    from safetensors.numpy import load
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from learnloop.ai.cross_encoder import PAIR_TOKENS
    from learnloop.ai.embedding import model_dir

    tuned = load(verified_bytes("learnloop.grading", "entailment.safetensors"))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir()), num_labels=len(LABELS)
    )
    state = model.state_dict()
    scale = 2.0
    for name, value in tuned.items():
        if name.startswith("lora_a."):
            target = "bert." + name.removeprefix("lora_a.")
            delta = tuned["lora_b." + name.removeprefix("lora_a.")] @ value * scale
            state[target] = state[target] + torch.from_numpy(delta)
        elif name.startswith("replace."):
            state["bert." + name.removeprefix("replace.")] = torch.from_numpy(value)
        elif name.startswith("pooler."):
            state["bert." + name] = torch.from_numpy(value)
        elif name.startswith("classifier."):
            state[name] = torch.from_numpy(value)
    model.load_state_dict(state)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir()))
    with torch.no_grad():
        rows = [
            model(
                **tokenizer(
                    a, b, return_tensors="pt", truncation="longest_first", max_length=PAIR_TOKENS
                )
            )
            .logits[0]
            .numpy()
            for a, b in pairs
        ]
    return np.stack(rows)


def test_numpy_logits_equal_pytorch() -> None:
    expected = _torch_logits(PAIRS)
    actual = get_cross_encoder().logits(PAIRS)
    assert np.abs(actual - expected).max() < 1e-4, (actual, expected)


def test_probabilities_are_a_distribution_and_order_independent() -> None:
    encoder = get_cross_encoder()
    forward = encoder.probabilities(PAIRS)
    backward = encoder.probabilities(PAIRS[::-1])[::-1]
    assert np.allclose(forward.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(forward - backward).max() < 1e-5


POINT = "Minimal base images leave out shells and package managers, reducing the attack surface."


def test_a_paraphrase_entails_and_a_negated_claim_contradicts() -> None:
    probabilities = get_cross_encoder().probabilities(
        [
            (
                "Once built, an image is never modified.",
                "Immutable images are never changed after being built; any change means "
                "building a new image.",
            ),
            ("Minimal images dont reduce the attack surface.", POINT),
            ("Readiness probes decide which Pods receive traffic.", POINT),
        ]
    )
    assert int(np.argmax(probabilities[0])) == LABELS.index("entails"), probabilities
    assert int(np.argmax(probabilities[1])) == LABELS.index("contradicts"), probabilities
    assert int(np.argmax(probabilities[2])) == LABELS.index("neutral"), probabilities


@pytest.mark.xfail(
    strict=True,
    reason="issue 10, open: the cross-encoder learned stance mostly from negation words; a "
    "denial in other words ('patched in place') reads as neutral",
)
def test_a_denial_without_a_negation_word_contradicts() -> None:
    probabilities = get_cross_encoder().probabilities(
        [("Images get patched in place on the server.", "Immutable images are never changed.")]
    )
    assert int(np.argmax(probabilities[0])) == LABELS.index("contradicts"), probabilities


def _package(tmp_path: Path, content: bytes, recorded: str) -> str:
    package = tmp_path / f"shipped_weights_{tmp_path.name.replace('-', '_')}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "model.json").write_bytes(content)
    (package / "model.sha256").write_text(f"{recorded}  model.json\n")
    return package.name


def test_weights_matching_their_digest_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = b'{"coef": [1, 2, 3]}'
    name = _package(tmp_path, content, hashlib.sha256(content).hexdigest())
    monkeypatch.syspath_prepend(str(tmp_path))
    assert verified_bytes(name, "model.json") == content


def test_weights_not_matching_their_digest_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _package(tmp_path, b'{"coef": [1, 2, 4]}', hashlib.sha256(b"other").hexdigest())
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(WeightsDigestError, match=r"model\.json.*train-grader"):
        verified_bytes(name, "model.json")


def test_the_shipped_grader_weights_match_their_digests() -> None:
    for name in ("entailment.safetensors", "point_model.json"):
        assert verified_bytes("learnloop.grading", name)
