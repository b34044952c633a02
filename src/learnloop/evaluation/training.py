"""`learnloop train-grader`: the grader's weights, reproduced from public data.

1. **The entailment model** (`grading/entailment.safetensors`): MiniLM read as a cross-encoder
   over "[CLS] learner text [SEP] claim [SEP]", with low-rank adapters on its top layers and a
   3-way head (entails, contradicts, neutral), trained with PyTorch on:
   - the SemEval-2013 Task 7 training splits (Beetle, SciEntsBank): the answer against its
     closest reference, labelled correct -> entails, contradictory -> contradicts,
     incorrect -> neutral;
   - stance pairs made from them (`synthetic.py`): negations, opposites, keyword lists,
     "not" + opposite paraphrases that still entail, and unrelated negated sentences beside
     a correct answer ("decoys") that must not turn it into a contradiction;
   - the same stance pairs over the bundled course's lesson prose (never its exercises or
     examples), so the model knows the course's vocabulary in every stance.
   Only training splits are read. PyTorch is a dev dependency; serving reads the adapters in
   numpy (`learnloop.ai.cross_encoder`).
2. **The point model** (`grading/point_model.json`): the judge's multinomial model over its
   features (`grading/judge.py`), fitted on the graded examples of the bundled course, each
   judged with the other examples of its exercise as nearest neighbours (leave one out); on
   the same rows with the neighbours hidden, since an exercise may have no examples. (Adding
   SemEval-2013 training answers, read against their closest reference, was tried and cost
   the course's dev set 5 points of agreement at equal weight: their "incorrect" is not a
   rubric point's "missing".)

Each file's sha256 is written beside it; the loaders refuse a file that does not match.
Runs single-threaded with fixed seeds, so the same data gives the same weights.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from learnloop.evaluation import synthetic
from learnloop.evaluation.asag import Question, read_semeval

LABELS = ("entails", "contradicts", "neutral")
SEMEVAL_LABEL = {"correct": 0, "contradictory": 1, "incorrect": 2}
SEED = 20131014


@dataclass(frozen=True)
class Pair:
    premise: str  # the learner's text
    hypothesis: str  # the claim (reference answer, rubric point)
    label: int  # index into LABELS
    source: str


def _content(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in synthetic.STOP}


def _f1(a: str, b: str) -> float:
    x, y = _content(a), _content(b)
    common = len(x & y)
    return 0.0 if not common else 2 * common / (len(x) + len(y))


def closest_reference(answer: str, question: Question) -> str:
    return max(question.references, key=lambda r: _f1(answer, r))


def _with_decoy(text: str, decoys: Sequence[str], rng: random.Random) -> str:
    """The text with an unrelated negated sentence beside it: a negation elsewhere in an
    answer must not turn a claim it states into a contradiction."""
    for _ in range(4):
        negated = synthetic.negate(rng.choice(decoys), rng)
        if negated:
            return f"{text} {negated}" if rng.random() < 0.5 else f"{negated} {text}"
    return text


def prose_sentences(course_dir: Path) -> list[str]:
    """Whole sentences of the course's lesson prose (not its exercises or examples)."""
    from learnloop.content.loader import load_course

    course = load_course(course_dir)
    sentences: list[str] = []
    for lesson in course.lessons:
        for section in lesson.sections:
            for sentence in re.split(r"(?<=[.!?])\s+|\n+", section.text):
                words = sentence.split()
                if 8 <= len(words) <= 40 and sentence.rstrip().endswith("."):
                    sentences.append(sentence.strip())
    return sentences


def prose_pairs(sentences: Sequence[str], rng: random.Random) -> list[Pair]:
    """Stance pairs over the course's own sentences, so the model knows its vocabulary in
    every stance: stated (with unrelated context), negated, opposed, listed, or off-point."""
    pairs: list[Pair] = []
    for sentence in sentences:
        other = rng.choice(sentences)
        if other != sentence:
            pairs.append(Pair(other, sentence, 2, "prose-other"))
            pairs.append(Pair(_with_decoy(sentence, sentences, rng), sentence, 0, "prose-decoy"))
        negated = synthetic.negate(sentence, rng)
        if negated:
            pairs.append(Pair(negated, sentence, 1, "prose-negation"))
            if rng.random() < 0.5:
                pairs.append(
                    Pair(_with_decoy(negated, sentences, rng), sentence, 1, "prose-negation")
                )
        swapped = synthetic.swap_antonym(sentence, rng)
        if swapped:
            pairs.append(Pair(swapped, sentence, 1, "prose-antonym"))
        paraphrase = synthetic.not_opposite(sentence)
        if paraphrase:
            pairs.append(Pair(paraphrase, sentence, 0, "prose-not-opposite"))
        keywords = synthetic.keyword_list(sentence, rng)
        if keywords and rng.random() < 0.5:
            pairs.append(Pair(keywords, sentence, 2, "prose-keywords"))
    return pairs


def training_pairs(data_dir: Path, course_dir: Path | None = None, seed: int = SEED) -> list[Pair]:
    rng = random.Random(seed)  # noqa: S311 - seeded, reproducible training data
    pairs: list[Pair] = []
    decoys = [
        reference
        for corpus in ("beetle", "sciEntsBank")
        for question in read_semeval(data_dir, corpus)[0].questions
        for reference in question.references
    ]
    for corpus in ("beetle", "sciEntsBank"):
        (train, *_tests) = read_semeval(data_dir, corpus)
        assert train.name == "train"
        for question in train.questions:
            for answer in question.answers:
                reference = closest_reference(answer.text, question)
                pairs.append(Pair(answer.text, reference, SEMEVAL_LABEL[answer.label], corpus))
                if answer.label == "incorrect" and len(question.references) > 1:
                    other = rng.choice(question.references)
                    pairs.append(Pair(answer.text, other, 2, corpus))
                if answer.label != "correct":
                    continue
                if rng.random() < 0.3:
                    pairs.append(Pair(_with_decoy(answer.text, decoys, rng), reference, 0, "decoy"))
                paraphrase = synthetic.not_opposite(answer.text)
                if paraphrase:
                    pairs.append(Pair(paraphrase, reference, 0, "not-opposite"))
                negated = synthetic.negate(answer.text, rng)
                if negated and rng.random() < 0.5:
                    pairs.append(Pair(negated, reference, 1, "negation"))
                keywords = synthetic.keyword_list(answer.text, rng)
                if keywords and rng.random() < 0.25:
                    pairs.append(Pair(keywords, reference, 2, "keywords"))
                swapped = synthetic.swap_antonym(answer.text, rng)
                if swapped and rng.random() < 0.3:
                    pairs.append(Pair(swapped, reference, 1, "antonym"))
            for reference in question.references:
                negated = synthetic.negate(reference, rng)
                if negated:
                    pairs.append(Pair(negated, reference, 1, "negation"))
                keywords = synthetic.keyword_list(reference, rng)
                if keywords:
                    pairs.append(Pair(keywords, reference, 2, "keywords"))
    if course_dir is not None:
        pairs += prose_pairs(prose_sentences(course_dir), rng)
    rng.shuffle(pairs)
    return pairs


# --------------------------------------------------------------------------------------------
# The entailment model (PyTorch, dev dependency)


@dataclass(frozen=True)
class EntailmentConfig:
    rank: int = 16
    frozen_layers: int = 3  # bottom layers left as they are; adapters on the rest
    epochs: float = 3.0
    batch: int = 16
    learning_rate: float = 5e-4
    max_tokens: int = 128


def train_entailment(
    pairs: Sequence[Pair],
    out: Path,
    config: EntailmentConfig = EntailmentConfig(),
    log: Callable[[str], None] = print,
) -> str:
    """Train, export the adapters to ``out``, and return the file's sha256."""
    import torch
    from torch import nn
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from learnloop.ai.embedding import model_dir

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_flush_denormal(True)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir()))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir()), num_labels=len(LABELS)
    )

    class LoRA(nn.Module):
        def __init__(self, base: nn.Linear, rank: int) -> None:
            super().__init__()
            self.base = base
            self.scale = 2.0
            self.A = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
            self.B = nn.Parameter(torch.zeros(base.out_features, rank))

        def forward(self, x: Any) -> Any:
            return self.base(x) + (x @ self.A.t() @ self.B.t()) * self.scale

    for parameter in model.parameters():
        parameter.requires_grad = False
    bert = model.bert
    adapted = bert.encoder.layer[config.frozen_layers :]
    for layer in adapted:
        attention = layer.attention
        attention.self.query = LoRA(attention.self.query, config.rank)
        attention.self.key = LoRA(attention.self.key, config.rank)
        attention.self.value = LoRA(attention.self.value, config.rank)
        attention.output.dense = LoRA(attention.output.dense, config.rank)
        layer.intermediate.dense = LoRA(layer.intermediate.dense, config.rank)
        layer.output.dense = LoRA(layer.output.dense, config.rank)
        for norm in (attention.output.LayerNorm, layer.output.LayerNorm):
            for parameter in norm.parameters():
                parameter.requires_grad = True
    for module in (bert.pooler, model.classifier):
        for parameter in module.parameters():
            parameter.requires_grad = True
    trainable = [p for p in model.parameters() if p.requires_grad]

    def encode(batch: Sequence[Pair]) -> Any:
        return tokenizer(
            [p.premise for p in batch],
            [p.hypothesis for p in batch],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=config.max_tokens,
        )

    def additive(mask: Any) -> Any:
        return (1.0 - mask[:, None, None, :].float()) * -1e9

    def run(layers: Any, hidden: Any, mask: Any) -> Any:
        for layer in layers:
            output = layer(hidden, attention_mask=additive(mask))
            hidden = output[0] if isinstance(output, tuple) else output
        return hidden

    # The frozen bottom layers give the same output every epoch: computed once.
    started = time.monotonic()
    model.eval()
    cached: list[Any] = [None] * len(pairs)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].premise + pairs[i].hypothesis))
    with torch.no_grad():
        for start in range(0, len(order), 64):
            chunk = order[start : start + 64]
            encoded = encode([pairs[i] for i in chunk])
            hidden = bert.embeddings(
                input_ids=encoded["input_ids"], token_type_ids=encoded["token_type_ids"]
            )
            hidden = run(
                bert.encoder.layer[: config.frozen_layers], hidden, encoded["attention_mask"]
            )
            lengths = encoded["attention_mask"].sum(1)
            for row, i in enumerate(chunk):
                cached[i] = hidden[row, : lengths[row]].clone()
    log(
        f"train-grader: frozen layers over {len(pairs)} pairs in {time.monotonic() - started:.0f} s"
    )

    model.train()
    optimiser = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.01)
    steps = int(math.ceil(len(pairs) / config.batch) * config.epochs)
    warmup = int(0.06 * steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: (
            min(1.0, (s + 1) / max(1, warmup)) * max(0.0, (steps - s) / max(1, steps - warmup))
        ),
    )
    rng = random.Random(SEED)  # noqa: S311 - seeded, reproducible training data
    step = 0
    while step < steps:
        indices = list(range(len(pairs)))
        rng.shuffle(indices)
        batches: list[list[int]] = []
        # Batches of similar length, in random order: little padding, no length bias.
        for start in range(0, len(indices), config.batch * 50):
            block = sorted(indices[start : start + config.batch * 50], key=lambda i: len(cached[i]))
            batches += [block[k : k + config.batch] for k in range(0, len(block), config.batch)]
        rng.shuffle(batches)
        for batch in batches:
            if step >= steps:
                break
            length = max(len(cached[i]) for i in batch)
            hidden = torch.zeros(len(batch), length, cached[batch[0]].shape[-1])
            mask = torch.zeros(len(batch), length, dtype=torch.long)
            for row, i in enumerate(batch):
                hidden[row, : len(cached[i])] = cached[i]
                mask[row, : len(cached[i])] = 1
            logits = model.classifier(model.dropout(bert.pooler(run(adapted, hidden, mask))))
            target = torch.tensor([pairs[i].label for i in batch])
            loss = torch.nn.functional.cross_entropy(logits, target)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            step += 1
            if step % 200 == 0:
                log(f"train-grader: step {step}/{steps}, loss {loss.item():.3f}")
    return export_entailment(model.state_dict(), config.rank, out)


def export_entailment(state: dict[str, Any], rank: int, out: Path) -> str:
    """Adapters, tuned layer norms, pooler and head, in the layout `ai.cross_encoder` reads."""
    from safetensors.numpy import save_file

    tensors: dict[str, np.ndarray] = {}
    adapted_layers = set()
    for name, value in state.items():
        key = name.removeprefix("bert.")
        if key.endswith(".A"):
            tensors["lora_a." + key[:-2] + ".weight"] = value.numpy().astype(np.float32)
            adapted_layers.add(key.split(".")[2])
        elif key.endswith(".B"):
            tensors["lora_b." + key[:-2] + ".weight"] = value.numpy().astype(np.float32)
    for name, value in state.items():
        key = name.removeprefix("bert.")
        if (
            "LayerNorm" in key
            and key.startswith("encoder.layer.")
            and key.split(".")[2] in adapted_layers
        ):
            tensors["replace." + key] = value.numpy().astype(np.float32)
    for key in ("pooler.dense.weight", "pooler.dense.bias"):
        tensors[key] = state["bert." + key].numpy().astype(np.float32)
    for key in ("classifier.weight", "classifier.bias"):
        tensors[key] = state[key].numpy().astype(np.float32)
    meta = {"scale": 2.0, "labels": list(LABELS), "rank": rank}
    tensors["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8).copy()
    save_file({k: np.ascontiguousarray(v) for k, v in sorted(tensors.items())}, str(out))
    return write_digest(out)


def write_digest(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".sha256").write_text(f"{digest}  {path.name}\n")
    return digest


# --------------------------------------------------------------------------------------------
# The point model (scikit-learn, dev dependency)


@dataclass(frozen=True)
class PointRow:
    features: np.ndarray
    status: str
    where: str  # "lesson 9, example 3, point immutable", for reports


def example_point_rows(course_dir: Path) -> list[PointRow]:
    """Every graded example of the course judged against each rubric point, with the other
    examples of its exercise as nearest neighbours (leave one out), labelled by the author."""
    from learnloop.content.loader import load_course
    from learnloop.grading.examples import exercise_evidence
    from learnloop.grading.grader import point_evidence
    from learnloop.grading.screening import screen

    rows: list[PointRow] = []
    for lesson in load_course(course_dir).lessons:
        for exercise in lesson.written:
            for index, example in enumerate(exercise.examples):
                screening = screen(exercise, example.answer)
                if screening.language is not None:
                    continue
                evidence = exercise_evidence(exercise, leave_out=index)
                _, found = point_evidence(exercise, screening.claims, evidence)
                given = dict(example.points)
                for point, judged in zip(exercise.rubric, found, strict=True):
                    rows.append(
                        PointRow(
                            judged.features,
                            given.get(point.id, "missing"),
                            f"lesson {lesson.number}, example {index + 1}, point {point.id}",
                        )
                    )
    return rows


# Regularisation of the point model: a few hundred rows and 21 inputs, so a strong prior.
POINT_MODEL_C = 0.3


def fit_point_model(rows: Sequence[PointRow], c: float = POINT_MODEL_C) -> dict[str, Any]:
    """A multinomial logistic regression over `judge.expand` of the features, as JSON."""
    from sklearn.linear_model import LogisticRegression

    from learnloop.grading.judge import FEATURES, STATUSES, expand

    x = expand(np.stack([r.features for r in rows]))
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=c, max_iter=10_000)
    model.fit((x - mean) / scale, [r.status for r in rows])
    missing = [s for s in STATUSES if s not in model.classes_]
    if missing:
        raise ValueError(f"the examples never use the statuses {missing}")
    return {
        "features": list(FEATURES),
        "classes": [str(c) for c in model.classes_],
        "mean": mean.round(8).tolist(),
        "scale": scale.round(8).tolist(),
        "coef": model.coef_.round(8).tolist(),
        "intercept": model.intercept_.round(8).tolist(),
        "rows": len(rows),
        "C": c,
    }


def write_json_with_digest(data: dict[str, Any], out: Path) -> str:
    out.write_text(json.dumps(data, indent=1) + "\n")
    return write_digest(out)


def point_model_rows(course_dir: Path) -> list[PointRow]:
    """What the point model is fitted on: every example label twice, with its neighbours and
    as the judge sees it for an exercise with no graded examples."""
    examples = example_point_rows(course_dir)
    return [*examples, *without_examples(examples)]


def without_examples(rows: Sequence[PointRow]) -> list[PointRow]:
    """The same rows as the judge sees them when the exercise has no graded examples."""
    from learnloop.grading.judge import FEATURES

    masked = [i for i, name in enumerate(FEATURES) if name.startswith("knn_")]
    out = []
    for row in rows:
        features = row.features.copy()
        features[masked] = 0.0
        features[FEATURES.index("has_examples")] = 0.0
        out.append(PointRow(features, row.status, row.where + " (no examples)"))
    return out
