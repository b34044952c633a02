"""Teacher corrections teach the grader: the served judge on SemEval-2013 "unseen answers"
with the question's graded training answers given as the teacher-reviewed examples.

This is the situation of a class whose instructor has reviewed some answers to a question: the
reviewed answers become nearest-neighbour examples for that question (`grading.examples`), the
same path the worker takes for an exercise's reviewed answers (`feedback.worker`). Each
reference answer is read as a rubric point, as in `evaluate.judge_labels`; a training answer's
3-way label becomes its statuses: correct = every reference covered, contradictory = every
reference contradicted, incorrect = every reference missing.

Protocol: the examples are the official training answers only; the figures are on the UA test
splits, which are used for nothing else. The learning curve takes the first k answers of one
seeded shuffle of each question's training answers, so the subsets are nested.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from learnloop.content.model import RubricPoint, WrittenExercise
from learnloop.evaluation.asag import LABELS_3WAY, Question, Split, read_semeval
from learnloop.evaluation.evaluate import Scores, bootstrap, scores

CURVE = (0, 5, 10, 20, 50)
PUBLISHED_WF1 = {"beetle/UA": (0.728, "CoMeT1"), "sciEntsBank/UA": (0.709, "ETS2")}
PUBLISHED_MF1 = {"beetle/UA": (0.715, "CoMeT1"), "sciEntsBank/UA": (0.643, "ETS2")}
_STATUS_OF_LABEL = {"correct": "covered", "contradictory": "contradicted", "incorrect": "missing"}
_SEED = 20130614


def exercise_for(question: Question) -> WrittenExercise:
    return WrittenExercise(
        id=question.id,
        prompt=question.text,
        model_answer="",
        rubric=tuple(RubricPoint(f"ref-{i}", text) for i, text in enumerate(question.references)),
    )


def label_from_statuses(statuses: set[str]) -> str:
    if "covered" in statuses:
        return "correct"
    if "contradicted" in statuses:
        return "contradictory"
    return "incorrect"


@dataclass
class CurvePoint:
    examples: str  # "0", "5", ..., "all"
    mean_examples: float  # reviewed answers per question actually available at this step
    scores: Scores
    ci: dict[str, tuple[float, float]]


@dataclass
class SplitResult:
    split: str
    n: int
    questions: int
    train_answers: int
    curve: list[CurvePoint] = field(default_factory=list)
    seconds: float = 0.0


def _claims(exercise: WrittenExercise, text: str) -> list[str]:
    from learnloop.grading.screening import screen

    # As in evaluate.judge_labels: the references were never shown to these students, so an
    # answer that matches one closely is a good answer, not a copy.
    segments = screen(exercise, text).segments
    return [s.text for s in segments if s.kind in ("claim", "copied")]


class _Memo:
    """The encoder's and the cross-encoder's outputs per sentence and per pair, filled in large
    batches before a question is judged (`warm`), then handed to the judge in place of the
    models. Each test answer is judged once per number of examples with the same sentences and
    pairs, and batching is far faster than the judge's one-answer calls. The outputs are the
    models' own (packing and padding do not change a text's result); only the time changes."""

    def __init__(self) -> None:
        from learnloop.ai.embedding import get_encoder
        from learnloop.grading.grader import read_probabilities

        self._encoder = get_encoder()
        self._read = read_probabilities
        self.vectors: dict[str, np.ndarray] = {}
        self.probabilities: dict[tuple[str, str], np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        for start in range(0, len(missing), 256):
            chunk = missing[start : start + 256]
            for text, row in zip(chunk, self._encoder.encode(chunk), strict=True):
                self.vectors[text] = row
        if not texts:
            return self._encoder.encode([])
        return np.stack([self.vectors[t] for t in texts])

    def read(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        missing = list(dict.fromkeys(p for p in pairs if p not in self.probabilities))
        for start in range(0, len(missing), 128):
            chunk = missing[start : start + 128]
            for pair, row in zip(chunk, self._read(chunk), strict=True):
                self.probabilities[pair] = row
        if not pairs:
            return np.zeros((0, 3), np.float32)
        return np.stack([self.probabilities[p] for p in pairs])

    def warm(self, exercise: WrittenExercise, answers: Sequence[Sequence[str]]) -> None:
        """Encode every claim, then read every pair the judge will ask for, in batches."""
        from learnloop.grading.grader import point_embeddings
        from learnloop.grading.judge import read_pairs, windows_of

        self.encode([c for claims in answers for c in claims])
        points = point_embeddings(exercise)
        pairs: list[tuple[str, str]] = []
        for claims in answers:
            if not claims:
                continue
            windows = windows_of(list(claims), self.encode(list(claims)))
            for i, point in enumerate(exercise.rubric):
                read, _ = read_pairs(point.text, points[i], windows)
                pairs += [(windows[k].text, point.text) for k in read]
        self.read(pairs)

    def forget(self) -> None:
        self.vectors.clear()
        self.probabilities.clear()


@contextmanager
def _models_replaced_by(memo: _Memo) -> Iterator[None]:
    from learnloop.grading import grader

    module = vars(grader)  # the names judge_points looks up when it runs
    real_get, real_read = module["get_encoder"], module["read_probabilities"]
    module["get_encoder"] = lambda: memo
    module["read_probabilities"] = memo.read
    try:
        yield
    finally:
        module["get_encoder"] = real_get
        module["read_probabilities"] = real_read


def evaluate_split(
    test: Split, train: Split, steps: Sequence[int | None], reps: int, progress: bool = True
) -> SplitResult:
    """Labels of every test answer for each number of examples per question (None = all)."""
    from learnloop.grading import examples
    from learnloop.grading.grader import judge_points, point_embeddings
    from learnloop.grading.judge import decide, point_model

    started = time.monotonic()
    model = point_model()
    train_by_id = {q.id: q for q in train.questions}
    rng = np.random.default_rng(_SEED)
    predictions: dict[int | None, list[str]] = {k: [] for k in steps}
    available: dict[int | None, list[int]] = {k: [] for k in steps}
    gold: list[str] = []
    groups: list[str] = []
    train_answers = 0
    memo = _Memo()
    questions = tqdm(test.questions, desc=f"teacher examples {test.key}", disable=not progress)
    with _models_replaced_by(memo):
        for question in questions:
            memo.forget()
            exercise = exercise_for(question)
            seen = train_by_id.get(question.id)
            reviewed = list(seen.answers) if seen else []
            order = rng.permutation(len(reviewed))
            reviewed = [reviewed[i] for i in order]
            train_answers += len(reviewed)
            largest = (
                len(reviewed) if None in steps else min(len(reviewed), max(k or 0 for k in steps))
            )
            from learnloop.grading.screening import screen

            train_claims = [list(screen(exercise, a.text).claims) for a in reviewed[:largest]]
            test_claims = [_claims(exercise, a.text) for a in question.answers]
            memo.warm(exercise, [*train_claims, *test_claims])
            points = point_embeddings(exercise)
            readings = [
                examples.read_answer(
                    exercise,
                    examples.GradedAnswer(
                        a.text,
                        tuple((p.id, _STATUS_OF_LABEL[a.label]) for p in exercise.rubric),
                    ),
                    points,
                    memo.encode,
                    memo.read,
                )
                for a in reviewed[:largest]
            ]
            evidence_at = {
                k: examples.evidence_by_point(
                    exercise,
                    readings if k is None else readings[:k],
                )
                for k in steps
            }
            for answer, claims in zip(question.answers, test_claims, strict=True):
                gold.append(answer.label)
                groups.append(question.id)
                for k in steps:
                    _, found, probabilities = judge_points(exercise, claims, evidence_at[k])
                    statuses: set[str] = {
                        decide(model, p, e)[0] for p, e in zip(probabilities, found, strict=True)
                    }
                    predictions[k].append(label_from_statuses(set(statuses)))
                    available[k].append(len(readings) if k is None else min(k, len(readings)))
    result = SplitResult(test.key, len(gold), len(test.questions), train_answers)
    for k in steps:
        result.curve.append(
            CurvePoint(
                "all" if k is None else str(k),
                float(np.mean(available[k])) if available[k] else 0.0,
                scores(gold, predictions[k], LABELS_3WAY),
                bootstrap(gold, predictions[k], groups, LABELS_3WAY, reps),
            )
        )
    result.seconds = time.monotonic() - started
    return result


def run(
    data_dir: Path,
    corpora: Sequence[str],
    reps: int,
    cache_dir: Path,
    *,
    from_cache: bool = False,
    progress: bool = True,
    all_examples: bool = True,
) -> list[SplitResult]:
    """Each corpus's result, saved under `cache_dir` as it finishes (the corpora can run as
    separate processes; `from_cache` then renders what they saved)."""
    # Without `all_examples` the largest step (50 per question) is the "with examples" figure.
    steps: list[int | None] = [*CURVE, None] if all_examples else [*CURVE]
    results = []
    for corpus in corpora:
        saved = cache_dir / f"teacher-examples-{corpus}.json"
        if from_cache:
            if not saved.exists():
                raise FileNotFoundError(f"{saved}: run this corpus first")
            results.append(_load(saved))
            continue
        splits = {s.name: s for s in read_semeval(data_dir, corpus)}
        result = evaluate_split(splits["UA"], splits["train"], steps, reps, progress)
        cache_dir.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(asdict(result), default=str))
        results.append(result)
    return results


def _load(path: Path) -> SplitResult:
    data = json.loads(path.read_text())
    curve = [
        CurvePoint(
            c["examples"],
            c["mean_examples"],
            Scores(**c["scores"]),
            {k: (v[0], v[1]) for k, v in c["ci"].items()},
        )
        for c in data.pop("curve")
    ]
    return SplitResult(**data, curve=curve)


def _fmt(value: float, ci: tuple[float, float]) -> str:
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _upto(point: CurvePoint) -> str:
    if point.examples == "all":
        return ""
    return f" (first {point.examples} per question, {point.mean_examples:.1f} on average)"


MARK_START = "<!-- teacher-examples:start -->"
MARK_END = "<!-- teacher-examples:end -->"


def render(results: Sequence[SplitResult], command: str, stamp: str) -> str:
    lines = [
        MARK_START,
        "## Teacher corrections teach the grader (SemEval-2013 UA, training answers as reviewed"
        " examples)",
        "",
        f"- Command: `{command}`; {stamp}",
        "- The served judge (`grading.grader.judge_points`, shipped weights unchanged) reads each"
        " reference answer as a rubric point, as in the table above. **with examples** = the"
        " question's official training answers given as graded examples"
        " (`grading.examples`, nearest neighbours per rubric point), which is what the worker"
        " does with an exercise's instructor-reviewed answers. A training answer's label becomes"
        " its statuses: correct = every reference covered, contradictory = every reference"
        " contradicted, incorrect = every reference missing. Test answers are never examples.",
        "- 95% intervals resample whole questions (cluster bootstrap).",
        "",
        "| split | n (questions) | training answers | weighted-F1 without | weighted-F1 with"
        " examples | macro-F1 without | macro-F1 with examples | best published wF1 / mF1 |"
        " beats best published (wF1) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for r in results:
        without, with_all = r.curve[0], r.curve[-1]
        best_w, who_w = PUBLISHED_WF1[r.split]
        best_m, who_m = PUBLISHED_MF1[r.split]
        beats = with_all.scores.weighted_f1 > best_w
        verdicts.append((r.split, beats, with_all.scores.weighted_f1 - best_w))
        lines.append(
            f"| {r.split} | {r.n} ({r.questions}) | {r.train_answers} |"
            f" {_fmt(without.scores.weighted_f1, without.ci['weighted_f1'])} |"
            f" {_fmt(with_all.scores.weighted_f1, with_all.ci['weighted_f1'])}{_upto(with_all)} |"
            f" {_fmt(without.scores.macro_f1, without.ci['macro_f1'])} |"
            f" {_fmt(with_all.scores.macro_f1, with_all.ci['macro_f1'])}{_upto(with_all)} |"
            f" {best_w:.3f} {who_w} / {best_m:.3f} {who_m} | {'**yes**' if beats else '**no**'} |"
        )
    lines.append("")
    for split, beats, gap in verdicts:
        lines.append(
            f"- **{split}: the grader with teacher-reviewed examples "
            f"{'beats' if beats else 'does not beat'} the best published system** "
            f"(weighted-F1 {gap:+.3f} against it)."
        )
    lines += [
        "",
        "### Learning curve: agreement after k reviewed answers per question",
        "",
        "The first k of one seeded shuffle of each question's training answers (fewer where a"
        " question has fewer); accuracy is agreement with the gold 3-way label.",
        "",
        "| split | reviewed per question (mean available) | accuracy | weighted-F1 | macro-F1 |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for point in r.curve:
            lines.append(
                f"| {r.split} | {point.examples} ({point.mean_examples:.1f}) |"
                f" {_fmt(point.scores.accuracy, point.ci['accuracy'])} |"
                f" {_fmt(point.scores.weighted_f1, point.ci['weighted_f1'])} |"
                f" {_fmt(point.scores.macro_f1, point.ci['macro_f1'])} |"
            )
    lines += ["", MARK_END]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace the section between the markers in `path`, or append it."""
    text = path.read_text() if path.exists() else ""
    if MARK_START in text and MARK_END in text:
        head, _, rest = text.partition(MARK_START)
        _, _, tail = rest.partition(MARK_END)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
