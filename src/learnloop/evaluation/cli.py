"""Commands that measure and train the grader. Imported only when one of them runs: the
server never loads the evaluation code (see `learnloop.cli.LAZY_COMMANDS`)."""

from __future__ import annotations

import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

# Both commands read the public ASAG data from the same place.
_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="ASAG data folder (default: ../shared/data/asag, then /work/shared/data/asag).",
)


@click.command("eval-grader")
@_DATA_DIR
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    type=click.Choice(["beetle", "sciEntsBank", "saf-v1", "saf-v2"]),
    help="Evaluate only these corpora (repeatable; default: all).",
)
@click.option(
    "--bootstrap",
    "reps",
    default=1000,
    show_default=True,
    help="Cluster-bootstrap resamples for the 95% intervals.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".cache/asag-embeddings"),
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the results table as Markdown (e.g. bench/grader.md).",
)
@click.option(
    "--dev",
    "dev_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Grade the labelled dev set in this folder (bench/grader-dev) instead of the ASAG "
    "benchmarks, and report agreement with the teacher.",
)
@click.option(
    "--cv",
    is_flag=True,
    help="Only run question-grouped 5-fold CV on the training splits, and stop.",
)
def eval_grader(
    data_dir: Path | None,
    corpora: tuple[str, ...],
    reps: int,
    cache_dir: Path,
    output: Path | None,
    dev_dir: Path | None,
    cv: bool,
) -> None:
    """Score the embedded grader on SemEval-2013 Task 7 and SAF (train splits only for
    fitting), or with --dev on the labelled dev set of the bundled course."""
    if dev_dir is not None:
        _eval_dev(dev_dir, output)
        return
    # Imported here so `learnloop --help` does not pay for numpy and the dataset code.
    from learnloop.evaluation.asag import find_data_dir
    from learnloop.evaluation.evaluate import CORPORA, cross_validate, render, run

    root = find_data_dir(data_dir)
    selected = list(corpora) or list(CORPORA)
    if cv:
        for corpus in selected:
            click.echo(
                f"{corpus} train, grouped 5-fold CV: {cross_validate(root, cache_dir, corpus)}"
            )
        return
    started = time.perf_counter()
    results = run(root, cache_dir, selected, reps)
    seconds = time.perf_counter() - started
    table = render(results, _command(), seconds, _weights_digest())
    _write(table, output, "## SemEval")


def _command() -> str:
    return "learnloop " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _weights_digest() -> str:
    from importlib import resources

    from learnloop.ai.weights import digest_name

    folder = resources.files("learnloop.grading")
    return ", ".join(
        f"{name} {folder.joinpath(digest_name(name)).read_text().split()[0][:12]}"
        for name in ("entailment.safetensors", "point_model.json")
    )


def _write(section: str, output: Path | None, marker: str) -> None:
    """Print a section; with --output, replace it in the file (the dev set section and the
    benchmark section are written by separate runs), keeping the other."""
    click.echo(section)
    if output is None:
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    other = ""
    kept = ""  # sections written by hand or by other commands stay at the end, as they are
    if output.exists():
        text = output.read_text()
        text, kept = _without_kept_sections(text)
        dev_at = text.find(DEV_HEADING)
        if marker == DEV_HEADING:
            other = text[:dev_at] if dev_at >= 0 else text
        elif dev_at >= 0:
            other = text[dev_at:]
    parts = [section, other] if marker != DEV_HEADING else [other, section]
    output.write_text("\n".join(p.rstrip() + "\n" for p in [*parts, kept] if p.strip()))
    click.echo(f"wrote {output}")


# Hand-written findings between these markers survive every regeneration of the figures.
NOTES_START = "<!-- grader-notes:start -->"
NOTES_END = "<!-- grader-notes:end -->"


def _without_kept_sections(text: str) -> tuple[str, str]:
    """The text without the teacher-examples section and the hand-written notes, and those
    sections (in that order)."""
    from learnloop.evaluation.teacher_examples import MARK_END, MARK_START

    kept: list[str] = []
    for start_mark, end_mark in ((MARK_START, MARK_END), (NOTES_START, NOTES_END)):
        start, end = text.find(start_mark), text.find(end_mark)
        if start < 0 or end < start:
            continue
        end += len(end_mark)
        kept.append(text[start:end] + "\n")
        text = text[:start] + text[end:]
    return text, "\n".join(kept)


DEV_HEADING = "## The labelled dev set"


def _eval_dev(dev_dir: Path, output: Path | None) -> None:
    from learnloop.content.loader import load_course
    from learnloop.evaluation.devset import check_disjoint, figures, grade_all, load, render
    from learnloop.evaluation.evaluate import _git_rev

    started = time.perf_counter()
    course = load_course(Path("courses/cloud-native"))
    answers = load(dev_dir, course)
    clashes = check_disjoint(answers)
    if clashes:
        raise click.ClickException(
            "dev answers too close to an exercise's examples: " + ", ".join(clashes)
        )
    table = render(figures(grade_all(answers)))
    seconds = time.perf_counter() - started
    section = (
        f"{DEV_HEADING} (`{dev_dir}`)\n\n"
        f"- Command: `{_command()}` ({seconds:.0f} s), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"code `{_git_rev()}`; weights {_weights_digest()}\n"
        "- Graded by the serving code (`learnloop.grading.grader.grade`), exactly as a learner's "
        "answer is; the set is disjoint from the exercises' `examples:` (checked).\n\n" + table
    )
    _write(section, output, DEV_HEADING)


@click.command("train-grader")
@_DATA_DIR
@click.option(
    "--course",
    "course_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("courses/cloud-native"),
    show_default=True,
    help="The course whose lesson prose and graded examples the grader learns from.",
)
@click.option(
    "--step",
    "steps",
    multiple=True,
    type=click.Choice(["lexicons", "entailment", "point-model"]),
    help="Only these steps, in this order (repeatable; default: all three).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the files here instead of into the installed learnloop/grading package.",
)
@click.option(
    "--adapt-all-layers",
    is_flag=True,
    help="Adapters on all six encoder layers instead of the top three (about 29 minutes on one "
    "core): the cross-encoder measured in bench/grader.md, not the shipped one.",
)
def train_grader(
    data_dir: Path | None,
    course_dir: Path,
    steps: tuple[str, ...],
    out: Path | None,
    adapt_all_layers: bool,
) -> None:
    """Reproduce the grader's shipped weights from public data, each with its sha256.

    Needs the dev dependencies (PyTorch, transformers, scikit-learn) and, for the lexicons and
    the stance pairs, Debian's `wordnet-base`. Takes about 25 minutes on one CPU core."""
    from importlib import resources

    from learnloop.evaluation import training
    from learnloop.evaluation.asag import find_data_dir
    from learnloop.evaluation.lexicons import write_lexicons

    target = out or Path(str(resources.files("learnloop.grading")))
    target.mkdir(parents=True, exist_ok=True)
    chosen = list(steps) or ["lexicons", "entailment", "point-model"]
    for step in chosen:
        started = time.perf_counter()
        if step == "lexicons":
            for path in write_lexicons(target):
                click.echo(f"wrote {path}")
        elif step == "entailment":
            pairs = training.training_pairs(find_data_dir(data_dir), course_dir)
            click.echo(f"train-grader: {len(pairs)} training pairs")
            config = training.EntailmentConfig(frozen_layers=0 if adapt_all_layers else 3)
            digest = training.train_entailment(pairs, target / "entailment.safetensors", config)
            click.echo(f"wrote {target / 'entailment.safetensors'} sha256 {digest}")
        else:
            if out is not None and "entailment" in chosen:
                # The point model reads the judge's features, which need the new weights
                # in place: it is fitted from the installed package only.
                raise click.UsageError("fit the point model after installing the new weights")
            rows = training.point_model_rows(course_dir)
            model = training.fit_point_model(rows)
            digest = training.write_json_with_digest(model, target / "point_model.json")
            click.echo(
                f"wrote {target / 'point_model.json'} from {len(rows) // 2} example labels "
                "(and again without neighbours), "
                f"sha256 {digest}"
            )
        click.echo(f"train-grader: {step} took {time.perf_counter() - started:.0f} s")


@click.command("eval-teacher-examples")
@_DATA_DIR
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    type=click.Choice(["beetle", "sciEntsBank"]),
    help="Only these SemEval corpora (repeatable; default: both).",
)
@click.option("--bootstrap", "reps", default=1000, show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the section into this Markdown file (e.g. bench/grader.md).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".cache/teacher-examples"),
    show_default=True,
)
@click.option(
    "--from-cache",
    is_flag=True,
    help="Render the results the corpora saved (each may run as its own process).",
)
@click.option(
    "--all-examples/--at-most-50",
    default=True,
    show_default=True,
    help="Give every training answer as an example, or stop the curve at 50 per question "
    "(Beetle has about 84 per question; reading them all takes hours on a shared CPU).",
)
def eval_teacher_examples(
    all_examples: bool,
    data_dir: Path | None,
    corpora: tuple[str, ...],
    reps: int,
    output: Path | None,
    cache_dir: Path,
    from_cache: bool,
) -> None:
    """The served judge on SemEval-2013 UA with and without the training answers as
    teacher-reviewed examples, and its learning curve after 0, 5, 10, 20, 50 examples."""
    from learnloop.evaluation import teacher_examples
    from learnloop.evaluation.asag import find_data_dir
    from learnloop.evaluation.evaluate import _git_rev

    started = time.perf_counter()
    results = teacher_examples.run(
        find_data_dir(data_dir),
        list(corpora) or ["beetle", "sciEntsBank"],
        reps,
        cache_dir,
        from_cache=from_cache,
        all_examples=all_examples,
    )
    seconds = time.perf_counter() - started
    stamp = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {seconds:.0f} s, code `{_git_rev()}`; "
        f"weights {_weights_digest()}"
    )
    section = teacher_examples.render(results, _command(), stamp)
    click.echo(section)
    if output is not None:
        teacher_examples.write_section(output, section)
        click.echo(f"wrote {output}")
