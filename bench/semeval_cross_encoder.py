"""The entailment cross-encoder alone on the SemEval-2013 test splits, beside the served judge.

Run: .venv/bin/python bench/semeval_cross_encoder.py [path to shared/data/asag]

The served judge (`bench/grader.md`, "served") reads each reference answer as a rubric point
through screening, the cross-encoder, the point model and `judge.decide`. This reads only the
cross-encoder: the answer against its closest reference (as in training), labelled by the
largest of P(entails) -> correct, P(contradicts) -> contradictory, P(neutral) -> incorrect.
What the two differ by is what the rest of the served path costs on these data. Shipped
weights; test splits only, nothing fitted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sklearn.metrics import confusion_matrix, f1_score

from learnloop.ai.cross_encoder import get_cross_encoder
from learnloop.evaluation.asag import LABELS_3WAY, read_semeval
from learnloop.evaluation.evaluate import judge_labels
from learnloop.evaluation.training import closest_reference

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "asag"
# The cross-encoder's labels, in its output order, as SemEval's 3-way labels.
AS_SEMEVAL = ("correct", "contradictory", "incorrect")


def main(data: Path) -> None:
    encoder = get_cross_encoder()
    print("| split | n | cross-encoder alone wF1 / mF1 | served judge wF1 / mF1 |")
    print("|---|---|---|---|")
    matrices = []
    for corpus in ("beetle", "sciEntsBank"):
        for split in read_semeval(data, corpus)[1:]:
            started = time.perf_counter()
            gold = [a.label for q in split.questions for a in q.answers]
            pairs = [
                (a.text, closest_reference(a.text, q)) for q in split.questions for a in q.answers
            ]
            alone = [AS_SEMEVAL[i] for i in encoder.probabilities(pairs).argmax(axis=1)]
            served = judge_labels(split, 3)
            cells = [
                f"{f1_score(gold, pred, average='weighted'):.3f} / "
                f"{f1_score(gold, pred, average='macro'):.3f}"
                for pred in (alone, served)
            ]
            print(f"| {split.key} | {len(gold)} | {cells[0]} | {cells[1]} |", flush=True)
            print(f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
            for name, pred in (("cross-encoder alone", alone), ("served judge", served)):
                matrix = confusion_matrix(gold, pred, labels=list(LABELS_3WAY))
                matrices.append((split.key, name, matrix))
    print("\nConfusion (rows gold, columns predicted:", ", ".join(LABELS_3WAY) + ")")
    for key, name, matrix in matrices:
        print(f"- {key}, {name}: " + "; ".join(" ".join(str(v) for v in row) for row in matrix))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
