"""The parsed course as plain JSON-ready data, answers included (`learnloop show --json`).

The schema is documented in docs/authoring.md; keep the two in step.
"""

from __future__ import annotations

from typing import Any

from learnloop.content.model import (
    ChoiceExercise,
    Course,
    Exercise,
    FillBlankExercise,
    GoDeeperBlock,
    Lesson,
    ProseBlock,
    RegisteredExercise,
    TakeawaysBlock,
    TrueFalseExercise,
    WrittenExercise,
)


def course_to_dict(course: Course) -> dict[str, Any]:
    return {
        "slug": course.slug,
        "title": course.title,
        "description": course.description,
        "content_hash": course.content_hash,
        "modules": [
            {"title": module.title, "lessons": list(module.lesson_numbers)}
            for module in course.modules
        ],
        "lessons": [lesson_to_dict(lesson) for lesson in course.lessons],
    }


def lesson_to_dict(lesson: Lesson) -> dict[str, Any]:
    exercises: list[dict[str, Any]] = []
    for section in lesson.sections:
        for block in section.blocks:
            if not isinstance(block, ProseBlock):
                exercises.append(exercise_to_dict(block, section.id))
    return {
        "number": lesson.number,
        "title": lesson.title,
        "slug": lesson.slug,
        "xp": lesson.xp,
        "minutes": lesson.minutes,
        "minutes_estimated": lesson.minutes_estimated,
        "summary": lesson.summary,
        "module": lesson.module_title,
        "source": lesson.source.path,
        "sections": [
            {"id": section.id, "title": section.title, "html": section.html}
            for section in lesson.sections
        ],
        "exercises": exercises,
    }


def exercise_to_dict(exercise: Exercise, section_id: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": exercise.id,
        "kind": exercise.kind,
        "section_id": section_id,
        "line": exercise.source.line if exercise.source else None,
    }
    hints = getattr(exercise, "hints", None)
    if hints is not None:
        data["hints"] = list(hints)
        data["tests"] = [
            {"answer": test.answer, "verdict": test.verdict, "line": test.line}
            for test in exercise.tests  # type: ignore[union-attr]  # every kind with hints has tests
        ]
    if isinstance(exercise, ChoiceExercise):
        data.update(
            prompt=exercise.prompt,
            multiple=exercise.multiple,
            partial_credit=exercise.partial_credit,
            shuffle=exercise.shuffle,
            explanation=exercise.explanation,
            options=[
                {
                    "id": option.id,
                    "text": option.text,
                    "correct": option.correct,
                    "feedback": option.feedback,
                }
                for option in exercise.options
            ],
        )
    elif isinstance(exercise, TrueFalseExercise):
        data.update(
            prompt=exercise.prompt, answer=exercise.answer, explanation=exercise.explanation
        )
    elif isinstance(exercise, FillBlankExercise):
        data.update(
            prompt=exercise.prompt,
            explanation=exercise.explanation,
            partial_credit=exercise.partial_credit,
            blanks=[
                {
                    "answers": list(blank.answers),
                    "regex": blank.regex,
                    "number": blank.number,
                    "tolerance": blank.tolerance,
                    "relative_tolerance": blank.relative_tolerance,
                    "sig_figs": blank.sig_figs,
                    "units": blank.units,
                    "convert_units": blank.convert_units,
                    "allow_typos": blank.allow_typos,
                    "case_sensitive": blank.case_sensitive,
                    "feedback": dict(blank.feedback),
                }
                for blank in exercise.blanks
            ],
        )
    elif isinstance(exercise, TakeawaysBlock):
        data.update(items=list(exercise.items))
    elif isinstance(exercise, WrittenExercise):
        data.update(
            prompt=exercise.prompt,
            model_answer=exercise.model_answer,
            min_words=exercise.min_words,
            max_words=exercise.max_words,
            rubric=[
                {
                    "id": point.id,
                    "point": point.text,
                    "weight": point.weight,
                    "misconceptions": [
                        {
                            "says": m.says,
                            "when": list(m.when),
                            "unless": list(m.unless),
                            "unless_anywhere": m.unless_anywhere,
                            "within": m.within,
                            "ordered": m.ordered,
                        }
                        for m in point.misconceptions
                    ],
                }
                for point in exercise.rubric
            ],
            examples=[
                {"answer": example.answer, "points": dict(example.points), "score": example.score}
                for example in exercise.examples
            ],
        )
    elif isinstance(exercise, RegisteredExercise):
        # Imported here: the kinds import the content model, which this module sits beside.
        from learnloop.exercises.kinds import REGISTRY

        data.update(REGISTRY[exercise.kind].to_dict(exercise))
    elif isinstance(exercise, GoDeeperBlock):
        data.update(
            questions=[
                {"id": question.id, "question": question.question, "answer": question.answer}
                for question in exercise.questions
            ]
        )
    return data
