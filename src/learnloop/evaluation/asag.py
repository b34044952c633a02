"""Readers for the public short-answer grading (ASAG) benchmarks in `shared/data/asag`.

Each reader returns questions with their reference answers and graded student answers, one
`Split` per official split. Nothing here trains or scores: see `evaluate.py`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

LABELS_3WAY = ("correct", "contradictory", "incorrect")
LABELS_2WAY = ("correct", "incorrect")
# SAF's own three labels, mapped onto the same names so one classifier shape fits both.
_SAF_LABELS = {"correct": "correct", "partially correct": "partial", "incorrect": "incorrect"}
LABELS_SAF = ("correct", "partial", "incorrect")


@dataclass(frozen=True)
class Answer:
    id: str
    text: str
    label: str  # 3-way label (SemEval) or SAF label
    label_2way: str  # "correct" / "incorrect"


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    references: tuple[str, ...]
    answers: tuple[Answer, ...]


@dataclass(frozen=True)
class Split:
    corpus: str  # "beetle", "sciEntsBank", "saf-v1", "saf-v2"
    name: str  # "train", "UA", "UQ", "UD"
    labels: tuple[str, ...]
    questions: tuple[Question, ...]

    @property
    def key(self) -> str:
        return f"{self.corpus}/{self.name}"

    @property
    def size(self) -> int:
        return sum(len(q.answers) for q in self.questions)


def _text(element: ET.Element | None) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _read_semeval_file(path: Path, labels_2way: dict[str, str] | None) -> Question:
    # The files are the organisers' own, read from a local directory, not untrusted input.
    root = ET.parse(path).getroot()  # noqa: S314 - local benchmark files
    references = tuple(_text(ref) for ref in root.iter("referenceAnswer") if _text(ref))
    answers = []
    for element in root.iter("studentAnswer"):
        answer_id = element.attrib["id"]
        label = element.attrib["accuracy"]
        if label not in LABELS_3WAY:
            raise ValueError(f"{path}: unexpected label {label!r}")
        two_way = "correct" if label == "correct" else "incorrect"
        if labels_2way is not None and labels_2way.get(answer_id, two_way) != two_way:
            raise ValueError(f"{path}: 2-way label of {answer_id} disagrees with its 3-way label")
        answers.append(Answer(answer_id, _text(element), label, two_way))
    return Question(
        id=root.attrib["id"],
        text=_text(root.find("questionText")),
        references=references,
        answers=tuple(answers),
    )


def _labels_2way(folder: Path) -> dict[str, str]:
    labels: dict[str, str] = {}
    for path in sorted(folder.glob("*.xml")):
        root = ET.parse(path).getroot()  # noqa: S314 - local benchmark files
        for element in root.iter("studentAnswer"):
            labels[element.attrib["id"]] = element.attrib["accuracy"]
    return labels


SEMEVAL_SPLITS: dict[str, tuple[tuple[str, str], ...]] = {
    # corpus -> ((split name, folder under test/), ...)
    "beetle": (("UA", "test-unseen-answers"), ("UQ", "test-unseen-questions")),
    "sciEntsBank": (
        ("UA", "test-unseen-answers"),
        ("UQ", "test-unseen-questions"),
        ("UD", "test-unseen-domains"),
    ),
}


def read_semeval(root: Path, corpus: str) -> list[Split]:
    """The training split, then each official test split, of one SemEval-2013 Task 7 corpus.

    Labels come from the 3-way files; the 2-way files are read too and must agree with the
    3-way labels (contradictory and incorrect merged), so a data mix-up fails loudly.
    """
    base = root / "semeval2013-task7"
    folders = [("train", base / "training" / "3way" / corpus, base / "training" / "2way" / corpus)]
    for name, folder in SEMEVAL_SPLITS[corpus]:
        folders.append(
            (
                name,
                base / "test" / "3way" / corpus / folder,
                base / "test" / "2way" / corpus / folder,
            )
        )
    splits = []
    for name, three, two in folders:
        two_way = _labels_2way(two) if two.is_dir() else None
        questions = tuple(_read_semeval_file(p, two_way) for p in sorted(three.glob("*.xml")))
        if not questions:
            raise FileNotFoundError(f"no SemEval XML files under {three}")
        splits.append(Split(corpus, name, LABELS_3WAY, questions))
    return splits


def _read_saf_file(path: Path) -> Question:
    root = ET.parse(path).getroot()  # noqa: S314 - local benchmark files
    references = tuple(_text(ref) for ref in root.iter("referenceAnswer") if _text(ref))
    answers = []
    for element in root.iter("studentAnswer"):
        raw = _text(element.find("verification_feedback")).lower()
        label = _SAF_LABELS.get(raw)
        if label is None:
            raise ValueError(f"{path}: unexpected verification_feedback {raw!r}")
        answers.append(
            Answer(
                element.attrib["id"],
                _text(element.find("response")),
                label,
                "correct" if label == "correct" else "incorrect",
            )
        )
    return Question(
        id=root.attrib["id"],
        text=_text(root.find("questionText")),
        references=references,
        answers=tuple(answers),
    )


SAF_SPLITS = (("train", "training"), ("UA", "unseen_answers"), ("UQ", "unseen_questions"))


def read_saf(root: Path, version: str) -> list[Split]:
    """SAF (English) v1 (`v1-acl2022`, the paper's data) or `v2.0`: train, UA, UQ."""
    folder = root / "saf-english" / ("v1-acl2022" if version == "v1" else "v2.0")
    splits = []
    for name, sub in SAF_SPLITS:
        questions = tuple(_read_saf_file(p) for p in sorted((folder / sub).glob("*.xml")))
        if not questions:
            raise FileNotFoundError(f"no SAF XML files under {folder / sub}")
        splits.append(Split(f"saf-{version}", name, LABELS_SAF, questions))
    return splits


def find_data_dir(given: Path | None) -> Path:
    """`--data-dir`, else `../shared/data/asag` from the working directory, else the shared copy."""
    candidates = [given] if given else [Path("../shared/data/asag"), Path("/work/shared/data/asag")]
    for candidate in candidates:
        if candidate is not None and (candidate / "semeval2013-task7").is_dir():
            return candidate
    raise FileNotFoundError(
        "ASAG data not found; pass --data-dir (looked in: "
        + ", ".join(str(c) for c in candidates if c is not None)
        + ")"
    )
