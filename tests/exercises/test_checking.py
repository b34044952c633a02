"""The answer-checking engine, kind by kind."""

from __future__ import annotations

import pytest

from learnloop.content.model import (
    Blank,
    ChoiceExercise,
    ChoiceOption,
    FillBlankExercise,
    GoDeeperBlock,
    GoDeeperQuestion,
    TrueFalseExercise,
)
from learnloop.exercises.checking import (
    CLOSE_FEEDBACK,
    AnswerError,
    check,
    match_blank,
    parse_number,
)

SINGLE = ChoiceExercise(
    id="choice-1",
    prompt="Why use distroless images?",
    options=(
        ChoiceOption("a", "Smaller attack surface", True, "Right: less to exploit."),
        ChoiceOption("b", "They boot a kernel faster", False, "Containers share the host kernel."),
        ChoiceOption("c", "Fashion", False),
    ),
    explanation="Fewer packages, fewer CVEs.",
)
MULTIPLE = ChoiceExercise(
    id="choice-2",
    prompt="Which are runtimes?",
    options=(
        ChoiceOption("a", "runc", True, "runc is the reference runtime."),
        ChoiceOption("b", "crun", True, "crun is written in C."),
        ChoiceOption("c", "vim", False, "vim is an editor."),
    ),
)
TRUE_FALSE = TrueFalseExercise(
    id="true-false-1",
    prompt="Pods on a crashed node are gone until recreated by hand.",
    answer=False,
    explanation="The ReplicaSet controller replaces them.",
)


def blanks(*items: Blank, prompt: str = "") -> FillBlankExercise:
    return FillBlankExercise(
        id="fill-blank-1",
        prompt=prompt or " ".join("___" for _ in items),
        blanks=items,
        explanation="Because.",
    )


TRACING = blanks(Blank(answers=("distributed tracing", "tracing")))


# --- choice ------------------------------------------------------------------------------


def test_choice_correct_option_gets_its_feedback() -> None:
    verdict = check(SINGLE, "a")
    assert verdict.correct
    assert verdict.verdict == "correct"
    assert verdict.feedback == "Right: less to exploit."
    assert verdict.explanation == "Fewer packages, fewer CVEs."
    assert verdict.normalised == "a"


def test_choice_wrong_option_gets_its_feedback() -> None:
    verdict = check(SINGLE, "b")
    assert not verdict.correct
    assert verdict.verdict == "incorrect"
    assert verdict.feedback == "Containers share the host kernel."


def test_choice_wrong_option_without_feedback_gets_a_generic_line() -> None:
    assert check(SINGLE, "c").feedback == "Not quite."


def test_choice_single_as_a_one_item_list() -> None:
    assert check(SINGLE, ["a"]).correct


def test_choice_multiple_needs_exactly_the_correct_set() -> None:
    assert check(MULTIPLE, ["b", "a"]).correct
    assert check(MULTIPLE, ["b", "a"]).normalised == ["a", "b"]
    assert not check(MULTIPLE, ["a"]).correct
    assert not check(MULTIPLE, ["a", "b", "c"]).correct
    assert not check(MULTIPLE, "a").correct


def test_choice_multiple_feedback_joins_chosen_options_in_author_order() -> None:
    verdict = check(MULTIPLE, ["c", "a"])
    assert verdict.feedback == "runc is the reference runtime. vim is an editor."


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("z", "unknown option id 'z'"),
        (["a", "z"], "unknown option id 'z'"),
        ([], "choose at least one option"),
        (1, "must be an option id"),
        (None, "must be an option id"),
        ([1], "must be an option id"),
    ],
)
def test_choice_malformed_answers(answer: object, message: str) -> None:
    with pytest.raises(AnswerError, match=message):
        check(SINGLE, answer)


# --- true-false --------------------------------------------------------------------------


def test_true_false() -> None:
    right = check(TRUE_FALSE, False)
    assert right.correct
    assert right.normalised is False
    assert right.explanation == "The ReplicaSet controller replaces them."
    wrong = check(TRUE_FALSE, True)
    assert wrong.verdict == "incorrect"
    assert wrong.explanation == right.explanation


@pytest.mark.parametrize("answer", ["false", 0, 1, None, [False]])
def test_true_false_needs_a_bool(answer: object) -> None:
    with pytest.raises(AnswerError, match="true or false"):
        check(TRUE_FALSE, answer)


# --- fill-blank --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "distributed tracing",
        "Distributed Tracing",
        "  distributed   tracing  ",
        "distributed-tracing",
        "distributed tracing.",
        "dístributed trâcing",
        "tracing",
    ],
)
def test_fill_blank_accepts_normalised_variants(typed: str) -> None:
    verdict = check(TRACING, [typed])
    assert verdict.correct, verdict
    assert verdict.blanks == ("correct",)


def test_fill_blank_accepts_a_plain_string_for_one_blank() -> None:
    assert check(TRACING, "distributed tracing").correct


def test_fill_blank_near_miss_is_close_not_correct() -> None:
    verdict = check(TRACING, ["distributed tracnig"])
    assert verdict.verdict == "close"
    assert not verdict.correct
    assert verdict.feedback == CLOSE_FEEDBACK == "Close — check your spelling."


def test_fill_blank_near_miss_counts_when_typos_are_allowed() -> None:
    lenient = blanks(Blank(answers=("distributed tracing",), allow_typos=True))
    verdict = check(lenient, ["distribted tracing"])
    assert verdict.correct
    assert verdict.feedback == CLOSE_FEEDBACK  # still told about the spelling


def test_typo_allowance_depends_on_answer_length() -> None:
    short = Blank(answers=("pod",))
    assert match_blank(short, "pd") == "incorrect"  # under 4 characters: no typo slack
    four = Blank(answers=("node",))
    assert match_blank(four, "nod") == "close"
    assert match_blank(four, "nd") == "incorrect"  # two edits from a 4-letter word
    long = Blank(answers=("kubernetes",))
    assert match_blank(long, "kuberntes") == "close"
    assert match_blank(long, "kubrntes") == "close"
    assert match_blank(long, "kbrntes") == "incorrect"
    assert match_blank(long, "kubernetse") == "close"  # a swap is one edit


def test_fill_blank_wrong_answer() -> None:
    verdict = check(TRACING, ["logging"])
    assert verdict.verdict == "incorrect"
    assert verdict.feedback == "Not quite."
    assert verdict.explanation == "Because."
    assert verdict.normalised == ["logging"]


def test_empty_answer_is_incorrect_not_close() -> None:
    assert match_blank(Blank(answers=("a",)), "") == "incorrect"
    assert match_blank(Blank(answers=("a",)), "   ") == "incorrect"


def test_regex_blank_matches_the_whole_trimmed_answer() -> None:
    blank = Blank(answers=(), regex=r"replica ?sets?")
    assert match_blank(blank, " ReplicaSets ") == "correct"
    assert match_blank(blank, "replica set") == "correct"
    assert match_blank(blank, "a replicaset") == "incorrect"  # fullmatch, not search


def test_case_sensitive_blank() -> None:
    blank = Blank(answers=("PATH",), case_sensitive=True)
    assert match_blank(blank, "PATH") == "correct"
    assert match_blank(blank, "path") != "correct"
    pattern = Blank(answers=(), regex="[A-Z]+", case_sensitive=True)
    assert match_blank(pattern, "ABC") == "correct"
    assert match_blank(pattern, "abc") == "incorrect"


def test_number_blank_with_tolerance() -> None:
    blank = Blank(answers=(), number=3.14, tolerance=0.01)
    assert match_blank(blank, "3.14") == "correct"
    assert match_blank(blank, "3.149") == "correct"
    assert match_blank(blank, "3,14") == "correct"
    assert match_blank(blank, "3.2") == "incorrect"
    assert match_blank(blank, "pi") == "incorrect"
    exact = Blank(answers=(), number=0.3)
    assert match_blank(exact, "0.30") == "correct"
    assert match_blank(Blank(answers=(), number=1000), "1,000") == "correct"


def test_parse_number() -> None:
    assert parse_number("1_000") == 1000
    assert parse_number("-2.5e3") == -2500
    assert parse_number("50%") == 50
    assert parse_number("nan") is None
    assert parse_number("inf") is None
    assert parse_number("12abc") is None


def test_several_blanks_are_judged_one_by_one() -> None:
    two = blanks(Blank(answers=("kernel",)), Blank(answers=(), number=3))
    assert check(two, ["kernel", "3"]).blanks == ("correct", "correct")
    mixed = check(two, ["kernle", "3"])
    assert (mixed.verdict, mixed.blanks) == ("close", ("close", "correct"))
    wrong = check(two, ["kernle", "4"])
    assert (wrong.verdict, wrong.blanks) == ("incorrect", ("close", "incorrect"))
    assert wrong.normalised == ["kernle", "4"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (["only one"], "expected 2 answer"),
        (["a", "b", "c"], "expected 2 answer"),
        ("a plain string", "list of 2 strings"),
        (["a", 3], "must be a string"),
        (None, "list of 2 strings"),
    ],
)
def test_fill_blank_malformed_answers(answer: object, message: str) -> None:
    two = blanks(Blank(answers=("a",)), Blank(answers=("b",)))
    with pytest.raises(AnswerError, match=message):
        check(two, answer)


def test_answer_error_is_a_value_error() -> None:
    assert issubclass(AnswerError, ValueError)


def test_blocks_that_are_not_auto_checked_are_refused() -> None:
    block = GoDeeperBlock(id="go-deeper-1", questions=(GoDeeperQuestion("q1", "Why?"),))
    with pytest.raises(AnswerError, match="not checked automatically"):
        check(block, "anything")
