"""The in-memory course model: immutable, built once per content hash.

This module is the contract between the course parser and everything that reads courses
(web pages, API, grader, tutor). Only the parser constructs these objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from learnloop.content.assets import Asset

ExerciseKind = Literal[
    "choice",
    "true-false",
    "fill-blank",
    "takeaways",
    "written",
    "go-deeper",
    "matching",
    "ordering",
    "select",
]

# Kinds a learner answers and the server checks instantly.
AUTO_CHECKED_KINDS: frozenset[str] = frozenset(
    {"choice", "true-false", "fill-blank", "matching", "ordering", "select"}
)


@dataclass(frozen=True)
class SourceRef:
    """Where something came from, so every problem can point at a file and line."""

    path: str
    line: int


@dataclass(frozen=True)
class ChoiceOption:
    id: str  # "a", "b", ... unless the author gives one
    text: str
    correct: bool
    feedback: str = ""


@dataclass(frozen=True)
class AnswerTest:
    """An answer the author wrote down with the verdict it must get (`tests:`); `check` runs it."""

    # Often a list: left out of equality and hashing, so exercises and lessons stay hashable
    # (the grader caches by them).
    answer: object = field(compare=False)
    verdict: str = "correct"  # "correct", "incorrect" or "close"
    line: int = 0  # in the lesson file
    feedback: str = ""  # when given, the verdict's feedback must contain it


@dataclass(frozen=True)
class ChoiceExercise:
    id: str
    prompt: str
    options: tuple[ChoiceOption, ...]
    shuffle: bool = False
    explanation: str = ""
    source: SourceRef | None = None
    # True: checkboxes, even with one correct option. None: decided by the correct options.
    multiple_answers: bool | None = None
    partial_credit: bool = False  # multi-select: a share of the credit for a partly right set
    hints: tuple[str, ...] = ()
    tests: tuple[AnswerTest, ...] = ()
    kind: Literal["choice"] = "choice"

    @property
    def multiple(self) -> bool:
        """Several options may be chosen: the learner must pick exactly the correct set."""
        if self.multiple_answers is not None:
            return self.multiple_answers
        return sum(option.correct for option in self.options) > 1


@dataclass(frozen=True)
class TrueFalseExercise:
    id: str
    prompt: str  # the statement
    answer: bool
    explanation: str = ""
    source: SourceRef | None = None
    hints: tuple[str, ...] = ()
    tests: tuple[AnswerTest, ...] = ()
    kind: Literal["true-false"] = "true-false"


@dataclass(frozen=True)
class Blank:
    answers: tuple[str, ...]
    regex: str | None = None
    number: float | None = None
    tolerance: float = 0.0  # absolute
    allow_typos: bool = False
    case_sensitive: bool = False
    relative_tolerance: float = 0.0  # 0.01: within 1% of `number`
    sig_figs: int | None = None  # the answer must be given to this many significant figures
    units: str | None = None  # the unit of `number` (pint syntax: "m", "km/h", "m/s**2")
    convert_units: bool = False  # accept any unit of the same dimension, converted
    # (wrong answer, message) pairs: a specific wrong answer gets its own feedback.
    feedback: tuple[tuple[str, str], ...] = ()
    decimal_comma: bool = False  # from the course's `locale`


@dataclass(frozen=True)
class FillBlankExercise:
    id: str
    prompt: str  # the sentence; each blank is written as three or more underscores
    blanks: tuple[Blank, ...]
    explanation: str = ""
    source: SourceRef | None = None
    partial_credit: bool = False  # several blanks: a share of the credit per right blank
    hints: tuple[str, ...] = ()
    tests: tuple[AnswerTest, ...] = ()
    kind: Literal["fill-blank"] = "fill-blank"


@dataclass(frozen=True)
class TakeawaysBlock:
    id: str
    items: tuple[str, ...]
    source: SourceRef | None = None
    kind: Literal["takeaways"] = "takeaways"

    @property
    def prompt(self) -> str:
        return "Key takeaways"


@dataclass(frozen=True)
class AnticipatedMisconception:
    """A wrong belief the author expects learners to state about one rubric point, and the
    words that give it away (`learnloop.grading.misconceptions` matches them)."""

    says: str  # the wrong belief, in the author's words, shown to the learner
    # Groups of alternatives ("restart*|kill*"): a sentence states the belief when one
    # alternative of every group occurs, close together, none of them denied.
    when: tuple[str, ...]
    # Alternatives that, near the matched words (within `within` words of them), mean the
    # sentence says something else ("cgroups" beside "namespaces ... cpu": the learner names
    # both features).
    unless: tuple[str, ...] = ()
    # `unless` words anywhere in the sentence clear it: a wrong reason ("it would overload the
    # database") is no misconception in a sentence that also gives the right one ("every
    # replica restarts").
    unless_anywhere: bool = False
    within: int = 8  # most words between two matched groups
    ordered: bool = False  # the groups must occur in the order written ("latest" before "same")
    line: int = 0  # where it is written in the lesson file, for `check` messages


@dataclass(frozen=True)
class RubricPoint:
    id: str
    text: str
    weight: float = 1.0
    misconceptions: tuple[AnticipatedMisconception, ...] = ()


PointStatus = Literal["covered", "partial", "missing", "contradicted"]
POINT_STATUSES: tuple[PointStatus, ...] = ("covered", "partial", "missing", "contradicted")


@dataclass(frozen=True)
class GradedExample:
    """A sample answer the author graded: how the grader should read answers like it."""

    answer: str
    # (rubric point id, status) for every point of the exercise, in rubric order; points the
    # author left out are "missing".
    points: tuple[tuple[str, PointStatus], ...]
    score: int | None = None
    line: int = 0  # where the example starts in the lesson file, for `check` messages

    def status_of(self, point_id: str) -> PointStatus:
        return dict(self.points).get(point_id, "missing")


@dataclass(frozen=True)
class WrittenExercise:
    id: str
    prompt: str
    model_answer: str
    rubric: tuple[RubricPoint, ...]
    min_words: int = 0
    max_words: int = 600
    source: SourceRef | None = None
    examples: tuple[GradedExample, ...] = ()
    kind: Literal["written"] = "written"


@dataclass(frozen=True)
class GoDeeperQuestion:
    id: str
    question: str
    answer: str | None = None


@dataclass(frozen=True)
class GoDeeperBlock:
    id: str
    questions: tuple[GoDeeperQuestion, ...]
    source: SourceRef | None = None
    kind: Literal["go-deeper"] = "go-deeper"

    @property
    def prompt(self) -> str:
        return "Go deeper"


@dataclass(frozen=True, kw_only=True)
class RegisteredExercise:
    """An auto-checked exercise of a kind that lives in one module of learnloop.exercises.kinds
    (matching, ordering, select): the subclass, its parsing, checking and card are there."""

    id: str
    prompt: str
    explanation: str = ""
    source: SourceRef | None = None
    partial_credit: bool = False
    hints: tuple[str, ...] = ()
    tests: tuple[AnswerTest, ...] = ()
    kind: str = ""


Exercise = (
    ChoiceExercise
    | TrueFalseExercise
    | FillBlankExercise
    | TakeawaysBlock
    | WrittenExercise
    | GoDeeperBlock
    | RegisteredExercise
)
AutoCheckedExercise = ChoiceExercise | TrueFalseExercise | FillBlankExercise | RegisteredExercise


@dataclass(frozen=True)
class ProseBlock:
    """Rendered, sanitised HTML of the Markdown between exercises."""

    html: str
    text: str  # plain text of the same prose, for search, retrieval and word counts


@dataclass(frozen=True)
class Section:
    id: str  # slug of the heading, unique within the lesson
    title: str
    # Prose and exercises in the order the author wrote them.
    blocks: tuple[ProseBlock | Exercise, ...]

    @property
    def html(self) -> str:
        return "".join(block.html for block in self.blocks if isinstance(block, ProseBlock))

    @property
    def text(self) -> str:
        return "\n\n".join(block.text for block in self.blocks if isinstance(block, ProseBlock))


@dataclass(frozen=True)
class Lesson:
    number: int
    title: str
    slug: str
    xp: int
    minutes: int  # given by the author, or estimated (see docs/authoring.md)
    minutes_estimated: bool
    summary: str
    module_title: str
    sections: tuple[Section, ...]
    exercises: tuple[Exercise, ...]  # every block of every section, in order
    source: SourceRef
    # The share of auto-checked exercises to solve before completing (front matter `pass`).
    pass_share: float = 1.0

    def exercise(self, exercise_id: str) -> Exercise | None:
        return next((e for e in self.exercises if e.id == exercise_id), None)

    @property
    def auto_checked(self) -> tuple[AutoCheckedExercise, ...]:
        return tuple(
            e
            for e in self.exercises
            if isinstance(
                e, ChoiceExercise | TrueFalseExercise | FillBlankExercise | RegisteredExercise
            )
        )

    @property
    def written(self) -> tuple[WrittenExercise, ...]:
        return tuple(e for e in self.exercises if isinstance(e, WrittenExercise))

    @property
    def takeaways(self) -> TakeawaysBlock | None:
        return next((e for e in self.exercises if isinstance(e, TakeawaysBlock)), None)

    @property
    def go_deeper(self) -> GoDeeperBlock | None:
        return next((e for e in self.exercises if isinstance(e, GoDeeperBlock)), None)


@dataclass(frozen=True)
class Module:
    title: str
    lesson_numbers: tuple[int, ...]


@dataclass(frozen=True)
class OutOfScope:
    """A neighbouring topic the course does not teach ("Using git: commits, merges…"). The
    tutor declines a question closer to it than to any passage, and names it."""

    topic: str  # shown to the learner: "using git and GitHub"
    about: tuple[str, ...]  # what learners ask about it: "merge conflicts", "rebasing"

    def phrases(self) -> list[str]:
        """What the tutor compares a question with: each thing it covers, and all of them."""
        return [f"{self.topic}: {item}" for item in self.about] + [
            f"{self.topic}: {', '.join(self.about)}"
        ]


@dataclass(frozen=True)
class Course:
    slug: str
    title: str
    description: str
    modules: tuple[Module, ...]
    lessons: tuple[Lesson, ...]  # in course order
    content_hash: str  # sha256 over every file the course is built from
    out_of_scope: tuple[OutOfScope, ...] = ()
    # Files the lessons show (images), by content digest; see learnloop.content.assets.
    assets: Mapping[str, Asset] = field(default_factory=dict, repr=False, compare=False)
    _by_number: dict[int, Lesson] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_number.update({lesson.number: lesson for lesson in self.lessons})

    def lesson(self, number: int) -> Lesson | None:
        return self._by_number.get(number)

    def next_lesson(self, number: int) -> Lesson | None:
        numbers = [lesson.number for lesson in self.lessons]
        if number not in numbers:
            return None
        index = numbers.index(number)
        return self.lessons[index + 1] if index + 1 < len(self.lessons) else None
