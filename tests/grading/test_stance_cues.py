"""The stance cue reads what a sentence asserts and what it denies. These are the cases where a
learner agrees with a rubric point in other words, and where they deny it."""

import pytest

from learnloop.grading.features import contradiction_cue, polarity

BY_NAME = (
    "The API should reach the database by container or service name on a shared network, "
    "not localhost or a fixed IP."
)


@pytest.mark.parametrize(
    "sentence",
    [
        "so the api can use db:5432 as host instead of localhost",
        "connect to the db container by its name rather than localhost",
        "use the service name in place of localhost or a hard-coded IP",
    ],
)
def test_rejecting_the_same_alternative_agrees_with_the_point(sentence: str) -> None:
    assert not contradiction_cue(sentence, BY_NAME)


@pytest.mark.parametrize(
    "sentence",
    [
        "the api should connect to localhost:5432 since they share the host",
        "use localhost rather than the container name",
    ],
)
def test_choosing_the_rejected_alternative_is_a_denial(sentence: str) -> None:
    assert contradiction_cue(sentence, BY_NAME)


def test_the_rejected_alternative_is_denied_and_the_choice_asserted() -> None:
    asserted, denied = polarity("use the db name instead of localhost")
    assert "localhost" in denied
    assert "db" in asserted
    assert "localhost" not in asserted
