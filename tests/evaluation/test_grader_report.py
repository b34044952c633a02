"""`eval-grader --output` rewrites its own section of bench/grader.md and keeps the rest: the
other run's section, the teacher-examples section and the hand-written notes."""

from pathlib import Path

from learnloop.evaluation.cli import DEV_HEADING, NOTES_END, NOTES_START, _write
from learnloop.evaluation.teacher_examples import MARK_END, MARK_START

REPORT = f"""# Embedded grader on public short-answer benchmarks
old benchmark figures

{DEV_HEADING} (`bench/grader-dev`)
old dev figures

{MARK_START}
teacher figures
{MARK_END}

{NOTES_START}
## Misconceptions: routes tried
a finding written by hand
{NOTES_END}
"""


def test_each_run_replaces_its_section_and_keeps_the_notes(tmp_path: Path) -> None:
    report = tmp_path / "grader.md"
    report.write_text(REPORT)

    _write("# Embedded grader on public short-answer benchmarks\nnew benchmark", report, "bench")
    text = report.read_text()
    assert "new benchmark" in text
    assert "old benchmark" not in text
    assert "old dev figures" in text
    assert "teacher figures" in text
    assert "a finding written by hand" in text

    _write(f"{DEV_HEADING} (`bench/grader-dev`)\nnew dev figures", report, DEV_HEADING)
    text = report.read_text()
    assert "new dev figures" in text
    assert "old dev figures" not in text
    assert "new benchmark" in text
    assert text.index("new benchmark") < text.index("new dev figures") < text.index(MARK_START)
    assert text.index(MARK_END) < text.index(NOTES_START) < text.index("a finding written by hand")
