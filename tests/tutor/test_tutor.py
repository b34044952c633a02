"""The "Go deeper" tutor: whole passages, citations, declines, threads, hints, the LLM path.

The course is three lessons of the sample course (4, 6 and 9), copied to a temporary folder,
so every passage is embedded in seconds. The LLM is a real local HTTP server speaking the
OpenAI protocol (tests/ai/fake_llm.py).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from ai.fake_llm import FakeLLM, running_fake_llm
from conftest import COURSES_DIR, ServerThread, settings_for
from factories import create_learner, upgrade_code
from learnloop.content.loader import load_course
from learnloop.content.model import Course, FillBlankExercise, Lesson
from learnloop.db import session_scope
from learnloop.evaluation.tutor_eval import fragments_of, section_blocks
from learnloop.settings import Settings
from learnloop.tutor import hints, retrieval
from learnloop.tutor.answers import (
    NOT_COVERED,
    ShownPassage,
    Turn,
    TutorAnswer,
    UnknownQuestion,
    _desktop_setup_elsewhere,
    _passages_to_show,
    answer_question,
    citation_for,
    compared_sides,
    without_set_aside,
)
from learnloop.tutor.models import HintUse
from learnloop.tutor.passages import Passage, course_passages, units_of_html
from learnloop.tutor.retrieval import BM25, Hit, prepare, tokens

LESSONS = (
    "04-container-networking-and-storage.md",
    "06-pods-and-deployments.md",
    "09-cloud-native-architecture.md",
)
COURSE_YAML = """\
slug: cloud-native
title: Cloud-Native Foundations
description: Three lessons of the sample course.
modules:
  - title: Selected
    lessons:
""" + "".join(f"      - {name}\n" for name in LESSONS)
CRASH_QUESTION = "container-crash-data"  # "What happens to data inside a container if it crashes?"
URL_RE = re.compile(r"^/courses/cloud-native/lessons/(4|6|9)#([a-z0-9-]+)$")
DEAD_NODE = "How long does Kubernetes wait before it replaces Pods from a dead node?"
PASSWORD = "Where should I keep a database password instead of the Deployment env list?"
MODEL_ANSWER = "Can you give me the model answer for the written exercise?"


@pytest.fixture(scope="module")
def courses_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("courses")
    folder = root / "cloud-native"
    folder.mkdir()
    for name in LESSONS:
        shutil.copy(COURSES_DIR / "cloud-native" / name, folder / name)
    (folder / "course.yaml").write_text(COURSE_YAML)
    return root


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tutor-index")


@pytest.fixture(scope="module")
def course(courses_dir: Path, index_dir: Path) -> Course:
    course = load_course(courses_dir / "cloud-native")
    assert prepare(course, index_dir).embeddings is not None
    return course


def lesson_of(course: Course, number: int) -> Lesson:
    found = course.lesson(number)
    assert found is not None
    return found


def embedded(index_dir: Path) -> Settings:
    return Settings(env="test", tutor_index_dir=index_dir)


def llm_settings(url: str, index_dir: Path, **extra: object) -> Settings:
    return Settings(
        env="test",
        grader_engine="llm",
        llm_base_url=url,
        llm_model="m",
        tutor_index_dir=index_dir,
        **extra,  # type: ignore[arg-type]  # pydantic checks
    )


def section_exists(course: Course, url: str) -> bool:
    match = URL_RE.match(url)
    assert match, url
    lesson = course.lesson(int(match.group(1)))
    return lesson is not None and any(s.id == match.group(2) for s in lesson.sections)


# --- passages and retrieval ------------------------------------------------------------------


def test_bm25_prefers_documents_with_rare_query_terms() -> None:
    docs = [tokens(t) for t in ("the pod runs containers", "cgroups limit memory", "pods pods")]
    scores = BM25(docs).scores(tokens("What limits memory? cgroups"))
    assert scores[1] > 0
    assert scores[0] == 0
    assert scores.index(max(scores)) == 1


def test_passages_are_whole_blocks_of_one_section(course: Course) -> None:
    blocks = section_blocks(course)
    passages = course_passages(course)
    assert {p.kind for p in passages} == {"paragraph", "code"}
    for p in passages:
        folded = " ".join(p.text.split())
        assert folded in blocks[p.key], (p.key, p.text[:80])
        if p.kind == "paragraph":
            assert "".join(p.sentences).replace(" ", "") == p.text.replace(" ", "")


def test_list_items_and_code_blocks_are_units_of_their_own() -> None:
    markup = (
        "<p>Each node runs:</p>\n<ul>\n<li>the <strong>kubelet</strong>, an agent;</li>\n"
        "<li><p>a runtime.</p><ul><li>nested</li></ul></li>\n</ul>\n"
        "<pre><code>kubectl get pods\nkubectl describe pod x\n</code></pre>"
    )
    assert units_of_html(markup) == [
        ("paragraph", "Each node runs:"),
        ("item", "the kubelet, an agent;"),
        ("item", "a runtime. nested"),
        ("code", "kubectl get pods\nkubectl describe pod x"),
    ]


def test_index_is_saved_by_content_hash_and_loaded_after_a_restart(
    course: Course, index_dir: Path
) -> None:
    first = prepare(course, index_dir)
    saved = list(index_dir.glob(f"cloud-native-{first.digest}.npz"))
    assert len(saved) == 1
    retrieval.forget_indexes()
    started = time.monotonic()
    again = prepare(course, index_dir)
    assert time.monotonic() - started < 5  # loaded, not embedded again
    assert again is not first
    assert first.embeddings is not None
    assert again.embeddings is not None
    assert (again.embeddings == first.embeddings).all()


# --- offline answers -------------------------------------------------------------------------


def test_answer_is_whole_passages_with_the_answering_sentence_highlighted(
    course: Course, index_dir: Path
) -> None:
    result = answer_question(
        course, lesson_of(course, 9), question=DEAD_NODE, settings=embedded(index_dir)
    )
    assert result.outcome == "answered"
    assert "five minutes" in result.answer
    assert 1 <= len(result.passages) <= 2
    assert fragments_of(result, section_blocks(course)) == []
    highlighted = [p.highlight for p in result.passages if p.highlight]
    assert len(highlighted) == 1
    assert "five minutes" in highlighted[0]
    for p in result.passages:
        assert section_exists(course, p.citation.url)
        assert p.citation in result.citations
    # Nothing from the rolling-update paragraph is stitched in.
    assert "maxUnavailable" not in result.answer


def test_a_password_question_is_answered_with_secrets(course: Course, index_dir: Path) -> None:
    result = answer_question(
        course, lesson_of(course, 9), question=PASSWORD, settings=embedded(index_dir)
    )
    assert "Secret" in result.answer
    assert ".dockerignore" not in result.answer


def test_an_answer_from_another_lesson_says_so(course: Course, index_dir: Path) -> None:
    result = answer_question(
        course, lesson_of(course, 4), question=DEAD_NODE, settings=embedded(index_dir)
    )
    assert "five minutes" in result.answer
    assert any(p.other_lesson for p in result.passages)
    assert "lesson 9" in result.note.lower()


def test_off_topic_question_is_declined_without_passages(course: Course, index_dir: Path) -> None:
    result = answer_question(
        course,
        lesson_of(course, 9),
        question="How do I bake sourdough bread?",
        settings=embedded(index_dir),
    )
    assert result.outcome == "declined"
    assert result.answer.startswith(NOT_COVERED)
    assert result.passages == ()


def test_a_topic_the_course_lists_as_out_of_scope_is_declined_by_name(index_dir: Path) -> None:
    # The whole bundled course: its course.yaml lists the neighbouring topics it does not teach.
    course = load_course(COURSES_DIR / "cloud-native")
    assert course.out_of_scope
    settings = embedded(index_dir)
    lesson = lesson_of(course, 12)
    # Each shares words with a passage ("merge to the main branch", "pull request"), which
    # answered the first two before course.yaml listed the topics.
    for question, topic in (
        ("how do i fix a git merge conflict", "using git and GitHub"),
        ("how do I push my code to github", "using git and GitHub"),
        ("how do I write unit tests with pytest", "unit testing"),
    ):
        result = answer_question(course, lesson, question=question, settings=settings)
        assert result.outcome == "declined", question
        assert result.passages == ()
        assert result.citations == ()
        assert f"about {topic}, which this course does not teach" in result.answer
    # Git as the course uses it is still answered.
    gitops = answer_question(
        course, lesson, question="why do we keep the kubernetes manifests in git", settings=settings
    )
    assert gitops.outcome == "answered"
    assert "deliver-it-ci-and-gitops" in {c.section_id for c in gitops.citations}


def test_setting_up_ones_own_computer_is_declined_but_a_course_concept_on_a_mac_is_not(
    course: Course, index_dir: Path
) -> None:
    settings = embedded(index_dir)
    lesson = lesson_of(course, 4)
    for question in ("how do i install node on my windows laptop", "install pip on macos"):
        result = answer_question(course, lesson, question=question, settings=settings)
        assert result.outcome == "declined", question
        assert result.passages == ()
    volume = answer_question(
        course, lesson, question="how do i set up a postgres volume on my mac", settings=settings
    )
    assert volume.outcome == "answered"
    assert "ephemeral-filesystems-and-volumes" in {c.section_id for c in volume.citations}
    # The rule itself: the same passage answers a question about volumes on a mac, and is a
    # near miss for installing Python on Windows.
    index = prepare(course, index_dir)
    volumes = [p for p in index.passages if "Volumes are storage" in p.text]
    assert len(volumes) == 1
    assert _desktop_setup_elsewhere(index, "how do i install python on windows 11", volumes)
    assert not _desktop_setup_elsewhere(index, "set up a volume on my mac", volumes)
    assert not _desktop_setup_elsewhere(index, "why does my mac need a vm", volumes)


def test_an_introduction_alone_is_no_answer_but_is_named_as_the_closest_section(
    course: Course, index_dir: Path
) -> None:
    result = answer_question(
        course,
        lesson_of(course, 9),
        question="what will this lesson teach me",
        settings=embedded(index_dir),
    )
    assert result.outcome == "declined"
    assert result.passages == ()
    assert "introduction" in {c.section_id for c in result.citations}


def test_the_second_passage_continues_the_section_unless_the_lesson_put_a_weaker_one_first(
    course: Course, index_dir: Path
) -> None:
    settings = embedded(index_dir)
    own = answer_question(course, lesson_of(course, 9), question=DEAD_NODE, settings=settings)
    assert {p.citation.section_id for p in own.passages} == {
        "kubernetes-pods-replicasets-and-services"
    }
    from_pods_lesson = answer_question(
        course,
        lesson_of(course, 6),
        question="if a whole node dies how long till its pods get recreated somewhere else",
        settings=settings,
    )
    assert len(from_pods_lesson.passages) == 2
    assert from_pods_lesson.passages[1].other_lesson
    assert "five minutes" in from_pods_lesson.passages[1].highlight


def test_the_paragraph_that_answers_leads_not_the_sections_code_or_its_lead_in(
    course: Course, index_dir: Path
) -> None:
    result = answer_question(
        course,
        lesson_of(course, 6),
        question="what happens when a container goes over its cpu limit vs over its memory limit",
        settings=embedded(index_dir),
    )
    assert result.passages[0].kind == "paragraph"
    assert "throttles" in result.passages[0].text
    assert "OOM-killed" in result.passages[0].highlight
    assert fragments_of(result, section_blocks(course)) == []


@pytest.mark.parametrize(
    ("question", "sides"),
    [
        (
            "whats the real difference between a readiness and a liveness probe",
            ("readines", "livenes"),
        ),
        ("counter vs gauge?", ("counter", "gauge")),
        ("cpu limit versus memory limit, what happens", ("cpu", "memory")),
        ("how is a Deployment different from a StatefulSet", ("deployment", "statefulset")),
        ('is CMD ["python", "app.py"] vs CMD python app.py any different', None),
        ("does every container get its own kernel or not", None),
    ],
)
def test_a_comparison_names_its_two_sides(question: str, sides: tuple[str, str] | None) -> None:
    found = compared_sides(question)
    assert found == (None if sides is None else ({sides[0]}, {sides[1]}))


@pytest.fixture(scope="module")
def whole_course(index_dir: Path) -> Course:
    """The bundled course with all its lessons (the module's `course` has three)."""
    course = load_course(COURSES_DIR / "cloud-native")
    assert prepare(course, index_dir).embeddings is not None
    return course


def test_what_the_learner_sets_aside_is_not_searched_for(
    whole_course: Course, index_dir: Path
) -> None:
    """Asked from the configuration lesson, "the Deployment env list" the learner wants to
    leave found the ConfigMap section: the answer never mentioned Secrets."""
    assert without_set_aside(PASSWORD) == "Where should I keep a database password?"
    assert without_set_aside("use a Deployment rather than a Pod") == "use a Deployment"
    assert without_set_aside("instead of env vars?") == "instead of env vars?"  # nothing left
    result = answer_question(
        whole_course, lesson_of(whole_course, 8), question=PASSWORD, settings=embedded(index_dir)
    )
    assert result.outcome == "answered"
    assert "secrets-and-what-they-do-not-protect" in {c.section_id for c in result.citations}
    assert "configuration-outside-the-image" not in {c.section_id for c in result.citations}


def test_a_comparison_shows_a_passage_on_each_side(whole_course: Course, index_dir: Path) -> None:
    result = answer_question(
        whole_course,
        lesson_of(whole_course, 8),
        question="whats the real difference between a readiness and a liveness probe",
        settings=embedded(index_dir),
    )
    openings = sorted(p.text.split(" asks")[0] for p in result.passages)
    assert openings == ["A liveness probe", "A readiness probe"]


def test_a_how_to_question_gets_the_worked_example_with_its_lead_in(
    whole_course: Course, index_dir: Path
) -> None:
    result = answer_question(
        whole_course,
        lesson_of(whole_course, 3),
        question="how should i order my dockerfile so pip install stays cached",
        settings=embedded(index_dir),
    )
    assert [p.kind for p in result.passages] == ["paragraph", "code"]
    assert result.passages[0].text.endswith(":")
    assert "COPY requirements.txt" in result.passages[1].text
    assert fragments_of(result, section_blocks(whole_course)) == []


def test_a_lead_in_to_a_list_is_never_shown_without_its_items(
    whole_course: Course, index_dir: Path
) -> None:
    index = prepare(whole_course, index_dir)
    lead_in = next(p for p in index.passages if p.text.startswith("Two Service types open a path"))
    # The lead-in alone scored as the only relevant passage, as a question can make it.
    only = Hit(lead_in, score=1.0, coverage=1.0, cosine=0.5, relevance=0.9, gate=0.5)
    shown = _passages_to_show(index, [only])
    assert shown[0] == lead_in
    assert [p.kind for p in shown[1:]] == ["item", "item"]
    assert shown[1].text.startswith("NodePort")
    assert shown[2].text.startswith("LoadBalancer")

    def answer_of(passages: list[Passage]) -> TutorAnswer:
        parts = tuple(ShownPassage(citation_for(whole_course, p), p.kind, p.text) for p in passages)
        return TutorAnswer("", tuple(p.citation for p in parts), "embedded", passages=parts)

    blocks = section_blocks(whole_course)
    assert fragments_of(answer_of(shown), blocks) == []
    assert any("mid-thought" in f for f in fragments_of(answer_of([lead_in]), blocks))


def test_author_question_keeps_the_author_text_and_cites_its_sections(
    course: Course, index_dir: Path
) -> None:
    lesson = lesson_of(course, 9)
    result = answer_question(
        course, lesson, question_id=CRASH_QUESTION, settings=embedded(index_dir)
    )
    block = lesson.go_deeper
    assert block is not None
    author = next(q.answer for q in block.questions if q.id == CRASH_QUESTION)
    assert author is not None
    assert result.answer == author.strip()
    assert result.outcome == "author"
    assert "/courses/cloud-native/lessons/4#ephemeral-filesystems-and-volumes" in [
        c.url for c in result.citations
    ]


def test_unknown_question_id(course: Course, index_dir: Path) -> None:
    with pytest.raises(UnknownQuestion):
        answer_question(
            course, lesson_of(course, 9), question_id="nope", settings=embedded(index_dir)
        )


def test_a_follow_up_is_read_with_the_thread(course: Course, index_dir: Path) -> None:
    lesson = lesson_of(course, 9)
    first = answer_question(course, lesson, question=DEAD_NODE, settings=embedded(index_dir))
    follow = answer_question(
        course,
        lesson,
        question="what do you mean by that grace period?",
        history=[Turn(DEAD_NODE, first.answer)],
        settings=embedded(index_dir),
    )
    assert follow.outcome == "answered"
    assert "grace period" in follow.answer


def test_the_model_answer_of_the_written_exercise_is_refused(
    course: Course, index_dir: Path
) -> None:
    lesson = lesson_of(course, 9)
    result = answer_question(course, lesson, question=MODEL_ANSWER, settings=embedded(index_dir))
    assert result.outcome == "refused"
    pasted = answer_question(
        course, lesson, question=lesson.written[0].prompt[:400], settings=embedded(index_dir)
    )
    assert pasted.outcome == "refused"


# --- the LLM path, against a real local HTTP server -------------------------------------------


def test_llm_answer_is_grounded_cited_and_checked(course: Course, index_dir: Path) -> None:
    with running_fake_llm() as (fake, url):
        result = answer_question(
            course, lesson_of(course, 9), question=DEAD_NODE, settings=llm_settings(url, index_dir)
        )
    assert result.engine == "llm"
    assert result.answer.startswith("According to the course,")
    assert result.flagged == ()
    (request,) = fake.requests
    assert request["body"]["stream"] is True
    system, user = (
        request["body"]["messages"][0]["content"],
        request["body"]["messages"][-1]["content"],
    )
    assert "ONLY the numbered course passages" in system
    first_title = re.search(r"^\[1\] (.+)$", user, re.MULTILINE)
    assert first_title
    assert [c.title for c in result.citations] == [first_title.group(1)]


def test_a_fabricated_citation_is_caught_and_dropped(course: Course, index_dir: Path) -> None:
    with running_fake_llm(FakeLLM(behaviour="fabricate")) as (_fake, url):
        result = answer_question(
            course, lesson_of(course, 9), question=DEAD_NODE, settings=llm_settings(url, index_dir)
        )
    assert result.engine == "llm"
    assert "green cheese" not in result.answer
    assert any("green cheese" in s for s in result.flagged)
    assert result.answer.startswith("According to the course,")


def test_a_request_for_the_model_answer_is_declined_without_calling_the_model(
    course: Course, index_dir: Path
) -> None:
    with running_fake_llm() as (fake, url):
        result = answer_question(
            course,
            lesson_of(course, 9),
            question=MODEL_ANSWER,
            settings=llm_settings(url, index_dir),
        )
        off = answer_question(
            course,
            lesson_of(course, 9),
            question="Who won the football world cup in 2018?",
            settings=llm_settings(url, index_dir),
        )
    assert result.outcome == "refused"
    assert off.outcome == "declined"
    assert fake.requests == []


def test_follow_up_history_is_sent_to_the_model(course: Course, index_dir: Path) -> None:
    with running_fake_llm() as (fake, url):
        answer_question(
            course,
            lesson_of(course, 9),
            question="what do you mean by evicts?",
            history=[Turn(DEAD_NODE, "About five minutes [1]")],
            settings=llm_settings(url, index_dir),
        )
    messages = fake.requests[0]["body"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert DEAD_NODE in messages[1]["content"]


def test_llm_down_falls_back_to_the_offline_answer(course: Course, index_dir: Path) -> None:
    with running_fake_llm(FakeLLM(behaviour="error")) as (_fake, url):
        result = answer_question(
            course,
            lesson_of(course, 9),
            question=DEAD_NODE,
            settings=llm_settings(url, index_dir, llm_max_retries=1),
        )
    assert result.engine == "embedded"
    assert "five minutes" in result.answer


# --- hints -----------------------------------------------------------------------------------


def rollback_exercise(course: Course) -> FillBlankExercise:
    exercise = lesson_of(course, 6).exercise("rollback-command")
    assert isinstance(exercise, FillBlankExercise)
    return exercise


def test_hints_point_then_narrow_and_never_contain_the_answer(
    course: Course, index_dir: Path
) -> None:
    exercise = rollback_exercise(course)
    lesson = lesson_of(course, 6)
    first = hints.hint(course, lesson, exercise, 1, embedded(index_dir))
    second = hints.hint(course, lesson, exercise, 2, embedded(index_dir))
    assert first.source == "retrieval"
    assert first.citation is not None
    assert first.citation.url.endswith("#rolling-updates-and-rollbacks")
    assert second.last
    for hint in (first, second):
        assert not hints.leaks(hint.text, exercise), hint.text
        assert "undo" not in hint.text.lower()
    assert hints.BLANK in second.text  # the key sentence, with the answer blanked out
    shown = hints.answer_hint(exercise)
    assert "undo" in shown.text


def test_leaks_sees_inflected_answers() -> None:
    volume = FillBlankExercise(id="v", prompt="Store it in a ___.", blanks=(_blank("volume"),))
    assert hints.leaks("Volumes are storage managed by the runtime.", volume)
    assert not hints.leaks("Storage managed by the runtime.", volume)
    assert hints.blank_out("Named volumes survive.", volume) == "Named ___ survive."


def _blank(answer: str) -> object:
    from learnloop.content.model import Blank

    return Blank(answers=(answer,))


def test_a_model_hint_that_contains_the_answer_is_refused(course: Course, index_dir: Path) -> None:
    exercise = rollback_exercise(course)
    lesson = lesson_of(course, 6)
    with running_fake_llm(FakeLLM(behaviour="leaky_hint")) as (fake, url):
        refused = hints.hint(course, lesson, exercise, 2, llm_settings(url, index_dir))
    assert fake.requests, "the model was asked"
    assert refused.source != "llm"
    assert "undo" not in refused.text.lower()
    with running_fake_llm() as (_fake, url):
        socratic = hints.hint(course, lesson, exercise, 2, llm_settings(url, index_dir))
    assert socratic.source == "llm"
    assert socratic.text.endswith("?")


# --- HTTP API --------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    database_url: str


def _serve(courses_dir: Path, tmp: Path, **overrides: object) -> Iterator[Server]:
    from learnloop.web.app import create_app

    database_url = f"sqlite:///{tmp / 'tutor.db'}"
    settings = settings_for(database_url, courses_dir=courses_dir, **overrides)
    with ServerThread(create_app(settings)) as url:
        yield Server(url, database_url)


@pytest.fixture(scope="module")
def server(
    courses_dir: Path, course: Course, index_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from _serve(
        courses_dir,
        tmp_path_factory.mktemp("tutor-db"),
        ai_daily_quota=6,
        tutor_index_dir=index_dir,
    )


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


GO_DEEPER = "/api/v1/courses/cloud-native/lessons/9/go-deeper"
THREAD = "/api/v1/courses/cloud-native/lessons/9/tutor/thread"
HINTS = "/api/v1/courses/cloud-native/lessons/6/exercises/rollback-command/hints"


def pro_learner(http: httpx.Client, server: Server) -> dict[str, str]:
    learner = create_learner(http)
    redeemed = http.post(
        "/api/v1/me/upgrade",
        json={"code": upgrade_code(server.database_url)},
        headers=learner.headers,
    )
    assert redeemed.status_code == 200, redeemed.text
    return learner.headers


def test_api_free_plan_gets_403_with_upgrade_hint(http: httpx.Client) -> None:
    learner = create_learner(http)
    reply = http.post(GO_DEEPER, json={"question_id": CRASH_QUESTION}, headers=learner.headers)
    assert reply.status_code == 403
    assert reply.json()["upgrade"]["feature"] == "go_deeper"


def test_api_conversation_thread_follow_up_clear_and_quota(
    http: httpx.Client, server: Server
) -> None:
    headers = pro_learner(http, server)
    first = http.post(GO_DEEPER, json={"question": DEAD_NODE}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["outcome"] == "answered"
    assert "five minutes" in body["answer"]
    for citation in body["citations"]:
        assert URL_RE.match(citation["url"])
    assert body["passages"]
    assert body["passages"][0]["citation"]["url"].startswith("/courses/")

    follow = http.post(
        GO_DEEPER, json={"question": "what do you mean by that grace period?"}, headers=headers
    )
    assert follow.status_code == 200
    assert "grace period" in follow.json()["answer"]

    thread = http.get(THREAD, headers=headers)
    assert thread.status_code == 200
    exchanges = thread.json()["exchanges"]
    assert [e["question"] for e in exchanges] == [
        DEAD_NODE,
        "what do you mean by that grace period?",
    ]
    assert exchanges[0]["answer"]["answer"] == body["answer"]

    # Another learner sees nothing of it.
    other = create_learner(http)
    assert http.get(THREAD, headers=other.headers).json() == {"exchanges": []}

    cleared = http.delete(THREAD, headers=headers)
    assert cleared.status_code == 200
    assert cleared.json() == {"removed": 4}
    assert http.get(THREAD, headers=headers).json() == {"exchanges": []}

    unknown = http.post(GO_DEEPER, json={"question_id": "nope"}, headers=headers)
    assert unknown.status_code == 404
    for bad in ({}, {"question_id": CRASH_QUESTION, "question": "Why?"}, {"question": "x" * 501}):
        assert http.post(GO_DEEPER, json=bad, headers=headers).status_code == 422
    # The quota (6 a day) counts questions: two asked; a 404 and 422s cost nothing.
    for _ in range(4):
        assert (
            http.post(GO_DEEPER, json={"question_id": CRASH_QUESTION}, headers=headers).status_code
            == 200
        )
    limited = http.post(GO_DEEPER, json={"question_id": CRASH_QUESTION}, headers=headers)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0


def test_api_hints_after_a_wrong_answer_are_recorded(http: httpx.Client, server: Server) -> None:
    learner = create_learner(http)
    headers = learner.headers
    early = http.post(HINTS, json={}, headers=headers)
    assert early.status_code == 409
    assert "wrong answer" in early.json()["detail"]
    attempt = http.post(
        "/api/v1/courses/cloud-native/lessons/6/exercises/rollback-command/attempts",
        json={"answer": ["redo"]},
        headers=headers,
    )
    assert attempt.status_code in (200, 201), attempt.text
    first = http.post(HINTS, json={}, headers=headers)
    assert first.status_code == 200, first.text
    second = http.post(HINTS, json={}, headers=headers)
    again = http.post(HINTS, json={}, headers=headers)  # the last hint, shown again
    for reply in (first, second, again):
        assert "undo" not in reply.text.lower()
    assert [first.json()["level"], second.json()["level"], again.json()["level"]] == [1, 2, 2]
    assert second.json()["last"] is True
    answer = http.post(HINTS, json={"give_up": True}, headers=headers)
    assert answer.json()["level"] == 0
    assert "undo" in answer.json()["text"]
    with session_scope(server.database_url) as db:
        rows = db.scalars(select(HintUse).where(HintUse.user_id == learner.id)).all()
        assert sorted((r.exercise_id, r.lesson_number, r.level) for r in rows) == [
            ("rollback-command", 6, 0),
            ("rollback-command", 6, 1),
            ("rollback-command", 6, 2),
        ]
    missing = http.post(
        "/api/v1/courses/cloud-native/lessons/6/exercises/nope/hints", json={}, headers=headers
    )
    assert missing.status_code == 404


def test_api_streams_and_drops_a_fabricated_citation(
    courses_dir: Path, course: Course, index_dir: Path, tmp_path: Path
) -> None:
    with running_fake_llm(FakeLLM(behaviour="fabricate")) as (_fake, llm_url):
        for srv in _serve(
            courses_dir,
            tmp_path,
            pro_features=(),
            grader_engine="llm",
            llm_base_url=llm_url,
            llm_model="m",
            tutor_index_dir=index_dir,
        ):
            with httpx.Client(base_url=srv.url, timeout=60) as client:
                learner = create_learner(client)
                headers = {**learner.headers, "Accept": "text/event-stream"}
                with client.stream(
                    "POST", GO_DEEPER, json={"question": DEAD_NODE}, headers=headers
                ) as reply:
                    assert reply.status_code == 200
                    assert reply.headers["content-type"].startswith("text/event-stream")
                    events = [b for b in reply.read().decode().split("\n\n") if b.strip()]
                stored = client.get(THREAD, headers=learner.headers).json()["exchanges"]
    kinds = [block.split("\n")[0].removeprefix("event: ") for block in events]
    assert kinds[0] == "citations"
    assert kinds[-1] == "done"
    assert kinds.count("text") > 3
    data = [json.loads(block.split("\ndata: ", 1)[1]) for block in events]
    streamed = "".join(d for k, d in zip(kinds, data, strict=True) if k == "text")
    assert "green cheese" in streamed  # streamed as generated...
    final = data[kinds.index("answer")]
    assert "green cheese" not in final["answer"]  # ...and dropped by the check
    assert final["flagged"]
    assert stored[0]["answer"]["answer"] == final["answer"]


def test_first_question_after_a_cold_start_gets_the_same_answer_as_later(
    courses_dir: Path, course: Course, tmp_path: Path
) -> None:
    retrieval.forget_indexes()
    fresh = tmp_path / "empty-index"
    for srv in _serve(courses_dir, tmp_path, pro_features=(), tutor_index_dir=fresh):
        with httpx.Client(base_url=srv.url, timeout=120) as client:
            deadline = time.monotonic() + 300
            while (ready := client.get("/readyz")).status_code != 200:
                assert ready.json()["checks"].get("tutor") == "building the tutor's index"
                assert time.monotonic() < deadline
                time.sleep(0.2)
            learner = create_learner(client)
            first = client.post(GO_DEEPER, json={"question": DEAD_NODE}, headers=learner.headers)
            later = [
                client.post(GO_DEEPER, json={"question": DEAD_NODE}, headers=learner.headers)
                for _ in range(3)
            ]
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "answered"
    assert all(r.json() == first.json() for r in later)
    assert list(fresh.glob("*.npz")), "the index was saved for the next start"
