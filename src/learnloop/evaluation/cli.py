"""Commands that measure and train the grader. Imported only when one of them runs: the
server never loads the evaluation code (see `learnloop.cli.LAZY_COMMANDS`)."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import click


@click.command("eval-grader")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="ASAG data folder (default: ../shared/data/asag, then /work/shared/data/asag).",
)
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
    "--export-calibration",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the serving grader's calibration JSON here.",
)
@click.option(
    "--export-answer-model",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the served answer-level model JSON here (needs both SemEval corpora).",
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
    export_calibration: Path | None,
    export_answer_model: Path | None,
    cv: bool,
) -> None:
    """Score the embedded grader on SemEval-2013 Task 7 and SAF (train splits only for fitting)."""
    # Imported here so `learnloop --help` does not pay for numpy and the dataset code.
    from learnloop.evaluation.asag import find_data_dir
    from learnloop.evaluation.evaluate import (
        CORPORA,
        cross_validate,
        cross_validate_served,
        digest,
        render,
        run,
    )

    root = find_data_dir(data_dir)
    selected = list(corpora) or list(CORPORA)
    if cv:
        for corpus in selected:
            click.echo(
                f"{corpus} train, grouped 5-fold CV: {cross_validate(root, cache_dir, corpus)}"
            )
        if {"beetle", "sciEntsBank"} <= set(selected):
            click.echo(
                "served answer model, beetle + sciEntsBank train, grouped 5-fold CV: "
                f"{cross_validate_served(root, cache_dir)}"
            )
        return
    started = time.perf_counter()
    results, calibration, answer_model = run(root, cache_dir, selected, reps, None)
    if answer_model is None and export_answer_model is not None:
        raise click.UsageError("--export-answer-model needs the beetle and sciEntsBank corpora")
    seconds = time.perf_counter() - started
    command = "learnloop " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    model_digest = digest(answer_model) if answer_model is not None else "none"
    table = render(results, command, seconds, model_digest)
    click.echo(table)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(table)
        click.echo(f"wrote {output}")
    if export_calibration is not None:
        export_calibration.write_text(json.dumps(calibration, indent=1) + "\n")
        click.echo(f"wrote {export_calibration}")
    if export_answer_model is not None and answer_model is not None:
        # Compact: thousands of tree nodes; indentation would triple the file.
        export_answer_model.write_text(json.dumps(answer_model, separators=(",", ":")) + "\n")
        click.echo(f"wrote {export_answer_model}")
