"""Bodies of the course, lesson and exercise API. Lessons are served without their answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from learnloop.content.model import (
    ChoiceExercise,
    Course,
    Exercise,
    ExerciseKind,
    FillBlankExercise,
    GoDeeperBlock,
    Lesson,
    ProseBlock,
    RegisteredExercise,
    TakeawaysBlock,
    TrueFalseExercise,
    WrittenExercise,
)
from learnloop.exercises.kinds import REGISTRY


class CourseOut(BaseModel):
    slug: str
    title: str
    lesson_count: int
    description: str = ""

    @classmethod
    def of(cls, course: Course) -> CourseOut:
        return cls(
            slug=course.slug,
            title=course.title,
            lesson_count=len(course.lessons),
            description=course.description,
        )


class SectionOut(BaseModel):
    id: str
    title: str
    html: str


class OptionOut(BaseModel):
    id: str
    text: str


class QuestionOut(BaseModel):
    id: str
    question: str


class ExerciseOut(BaseModel):
    """One exercise, without anything that gives its answer away."""

    id: str
    kind: ExerciseKind
    prompt: str
    section_id: str
    options: list[OptionOut] | None = None  # choice
    multiple: bool | None = None  # choice: pick every correct option
    shuffle: bool | None = None  # choice: the author asks for the options in random order
    blanks: int | None = None  # fill-blank: how many strings to send
    items: list[str] | None = None  # takeaways
    min_words: int | None = None  # written
    max_words: int | None = None  # written
    questions: list[QuestionOut] | None = None  # go-deeper
    hints: list[str] | None = None  # auto-checked kinds: shown one at a time
    # matching, ordering, select: what the learner chooses from (see docs/authoring.md)
    parts: dict[str, Any] | None = None

    @classmethod
    def of(cls, exercise: Exercise, section_id: str) -> ExerciseOut:
        out = cls(id=exercise.id, kind=exercise.kind, prompt=exercise.prompt, section_id=section_id)
        if isinstance(exercise, ChoiceExercise):
            out.options = [OptionOut(id=o.id, text=o.text) for o in exercise.options]
            out.multiple = exercise.multiple
            out.shuffle = exercise.shuffle
        elif isinstance(exercise, FillBlankExercise):
            out.blanks = len(exercise.blanks)
        elif isinstance(exercise, TakeawaysBlock):
            out.items = list(exercise.items)
        elif isinstance(exercise, WrittenExercise):
            out.min_words, out.max_words = exercise.min_words, exercise.max_words
        elif isinstance(exercise, GoDeeperBlock):
            out.questions = [QuestionOut(id=q.id, question=q.question) for q in exercise.questions]
        elif isinstance(exercise, RegisteredExercise):
            out.parts = REGISTRY[exercise.kind].public(exercise)
        elif isinstance(exercise, TrueFalseExercise):
            pass  # the statement is the prompt; the answer stays on the server
        hints = getattr(exercise, "hints", None)
        if hints:
            out.hints = list(hints)
        return out


class LessonOut(BaseModel):
    course: str
    number: int
    slug: str
    title: str
    minutes: int
    xp: int
    summary: str
    module_title: str
    sections: list[SectionOut]
    exercises: list[ExerciseOut]
    next_lesson: int | None

    @classmethod
    def of(cls, course: Course, lesson: Lesson) -> LessonOut:
        exercises = [
            ExerciseOut.of(block, section.id)
            for section in lesson.sections
            for block in section.blocks
            if not isinstance(block, ProseBlock)  # prose is in the section's html
        ]
        following = course.next_lesson(lesson.number)
        return cls(
            course=course.slug,
            number=lesson.number,
            slug=lesson.slug,
            title=lesson.title,
            minutes=lesson.minutes,
            xp=lesson.xp,
            summary=lesson.summary,
            module_title=lesson.module_title,
            sections=[SectionOut(id=s.id, title=s.title, html=s.html) for s in lesson.sections],
            exercises=exercises,
            next_lesson=following.number if following else None,
        )


class AttemptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: bool | str | list[str] = Field(
        description="choice: an option id, or a list of ids; true-false: true or false; "
        "fill-blank: a list of strings, one per blank; "
        + "; ".join(spec.answer_help for spec in REGISTRY.values())
        + "."
    )


class AttemptOut(BaseModel):
    verdict: Literal["correct", "incorrect", "close"]
    correct: bool
    feedback: str
    explanation: str
    first_attempt: bool
    blanks: list[str] = Field(default_factory=list, description="fill-blank: a verdict per blank")
    xp_awarded: int = Field(default=0, description="XP this attempt earned (docs/progress.md).")
