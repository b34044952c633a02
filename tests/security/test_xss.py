"""XSS: hostile lesson Markdown, learner text and AI output are served as inert text, and every
HTML response carries a Content-Security-Policy that forbids inline script anyway.

The served HTML is parsed (html.parser) and audited: no script without a /static/ source, no
inline script, no on* event-handler attribute, no javascript:/vbscript:/data:text/html URL, no
frames or plugins. Escaped text such as ``&lt;script&gt;`` is what we want to see instead.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import update

from factories import FILL_BLANK_ID, WRITTEN_ID
from learnloop.db import utcnow
from learnloop.feedback.models import WrittenResponse

from .conftest import Browser, Site

HOSTILE_LESSON = "/courses/hostile/lessons/1"
SAMPLE_LESSON = "/courses/cloud-native/lessons/9"
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "srcset"}
FORBIDDEN_TAGS = {"iframe", "frame", "object", "embed", "applet", "base", "meta-refresh"}
PAYLOAD = (
    "\"'><script>alert('{0}')</script><img src=x onerror=alert('{0}')>"
    "<a href=\"javascript:alert('{0}')\">x</a>"
)


class Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script":
            if not values.get("src", "").startswith("/static/"):
                self.problems.append(f"script not from /static/: {attrs}")
            self._in_inline_script = "src" not in values
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> {attrs}")
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"event handler <{tag} {name}={value!r}>")
            squeezed = re.sub(r"[\x00-\x20]", "", value).lower()
            if name in URL_ATTRIBUTES and squeezed.startswith(
                ("javascript:", "vbscript:", "data:text/html")
            ):
                self.problems.append(f"script URL <{tag} {name}={value!r}>")
            if name == "style" and ("url(" in squeezed or "expression(" in squeezed):
                self.problems.append(f"style with a URL <{tag} style={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.problems.append(f"inline script: {data[:80]!r}")


def assert_inert(html: str, where: str) -> None:
    audit = Audit()
    audit.feed(html)
    audit.close()
    assert not audit.problems, f"{where}: " + "\n".join(audit.problems)
    assert "<script>alert" not in html.lower(), where


def test_the_audit_catches_what_it_looks_for() -> None:
    """The audit itself must fail on live markup, or every test below proves nothing."""
    for live in [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href=" jav&#x09;ascript:alert(1)">x</a>',
        "<iframe src=//evil.example></iframe>",
        '<script src="https://evil.example/x.js"></script>',
    ]:
        audit = Audit()
        audit.feed(live)
        assert audit.problems, live
    assert_inert("<p>&lt;script&gt;alert(1)&lt;/script&gt; onerror=alert(1)</p>", "escaped")


@pytest.fixture
def pro(site: Site) -> Browser:
    return site.browser(site.people["other"])


def test_hostile_lesson_markdown_is_rendered_inert(site: Site, pro: Browser) -> None:
    with pro:
        for path in ("/", "/courses/hostile", HOSTILE_LESSON):
            page = pro.client.get(path)
            assert page.status_code == 200, path
            assert_inert(page.text, path)
        lesson = pro.client.get(HOSTILE_LESSON).text
        # The author's markup is shown as text, not dropped silently.
        assert "&lt;script&gt;alert(" in lesson
        assert "Hostile &lt;script&gt;" in lesson
        # A wrong answer shows the option's feedback and the explanation: also inert.
        answered = pro.post_form(f"{HOSTILE_LESSON}/exercises/hostile-choice", {"answer": "b"})
        assert answered.status_code == 303
        assert_inert(pro.client.get(HOSTILE_LESSON).text, "lesson after an answer")
        fragment = pro.client.post(
            f"{HOSTILE_LESSON}/exercises/hostile-choice",
            data={"answer": "a", "csrf_token": pro.csrf_token()},
            headers={"Accept": "application/json"},
        )
        assert fragment.status_code == 200
        assert_inert(fragment.json()["html"], "verdict fragment")
        # The go-deeper answer (the tutor, or the author's answer it falls back to).
        tutor = pro.post_form(f"{HOSTILE_LESSON}/go-deeper/q1")
        assert tutor.status_code == 200, tutor.text[:300]
        assert_inert(tutor.text, "go-deeper answer")


def test_learner_name_is_escaped(site: Site) -> None:
    with Browser(site.url) as browser:
        created = browser.post_form(
            "/signup",
            {
                "name": PAYLOAD.format("name"),
                "email": "xss-name@example.com",
                "password": "an-unusual-passphrase-7",
            },
        )
        assert created.status_code == 303
        for path in ("/", "/dashboard", SAMPLE_LESSON, "/upgrade"):
            page = browser.client.get(path)
            assert page.status_code == 200, path
            assert_inert(page.text, path)
        assert "&lt;script&gt;alert(" in browser.client.get("/dashboard").text


def test_learner_answers_are_escaped(site: Site, pro: Browser) -> None:
    with pro:
        attempt = pro.post_form(
            f"{SAMPLE_LESSON}/exercises/{FILL_BLANK_ID}", {"blank": PAYLOAD.format("blank")}
        )
        assert attempt.status_code == 303
        written = pro.client.post(
            f"{SAMPLE_LESSON}/written/{WRITTEN_ID}",
            data={"text": PAYLOAD.format("answer"), "csrf_token": pro.csrf_token()},
            headers={"Accept": "application/json"},
        )
        assert written.status_code == 202, written.text[:300]
        assert_inert(written.json()["html"], "written fragment")
        page = pro.client.get(SAMPLE_LESSON).text
        assert_inert(page, "lesson with the learner's answers")
        assert "alert(&#39;answer&#39;)" in page or "alert(&#x27;answer&#x27;)" in page
        status = pro.client.get(written.json()["status_url"])
        assert_inert(status.json()["html"], "written status")


def test_ai_feedback_is_escaped(site: Site, pro: Browser) -> None:
    """Whatever the grader (an LLM, say) returns is data: its HTML must not run."""
    with pro:
        written = pro.client.post(
            f"{SAMPLE_LESSON}/written/{WRITTEN_ID}",
            data={"text": "A plain answer.", "csrf_token": pro.csrf_token()},
            headers={"Accept": "application/json"},
        )
        assert written.status_code == 202
        response_id = written.json()["response_id"]
        hostile = {
            "score": 40,
            "summary": PAYLOAD.format("summary"),
            "points": [
                {
                    "id": "never-modified",
                    "status": "covered",
                    "text": PAYLOAD.format("point"),
                    "evidence": PAYLOAD.format("evidence"),
                    "section_id": "\"><script>alert('section')</script>",
                },
                {"status": "<script>alert('status')</script>", "point": PAYLOAD.format("p2")},
            ],
            "misconceptions": [PAYLOAD.format("misconception"), {"text": PAYLOAD.format("m2")}],
        }
        # As the worker stores a grade; the grading itself is tested in tests/feedback.
        with site.engine.begin() as connection:
            connection.execute(
                update(WrittenResponse)
                .where(WrittenResponse.id == response_id)
                .values(status="graded", score=40, feedback=hostile, graded_at=utcnow())
            )
        page = pro.client.get(SAMPLE_LESSON).text
        assert_inert(page, "lesson with AI feedback")
        assert "alert(&#39;summary&#39;)" in page or "alert(&#x27;summary&#x27;)" in page
        status = pro.client.get(f"/me/responses/{response_id}")
        assert status.status_code == 200
        assert_inert(status.json()["html"], "feedback fragment")
        # The JSON API hands the feedback over as JSON data, never as HTML.
        api = httpx.get(
            f"{site.url}/api/v1/responses/{response_id}",
            headers=site.people["other"].api_headers,
        )
        assert api.headers["content-type"].startswith("application/json")
        assert api.json()["feedback"]["summary"] == json.loads(json.dumps(hostile))["summary"]


def _html_responses(site: Site) -> list[tuple[str, httpx.Response]]:
    learner = site.people["learner"]
    responses = []
    with Browser(site.url) as anonymous:
        for path in ("/", "/signin", "/signup", "/courses/cloud-native", "/no-such-page"):
            responses.append((path, anonymous.client.get(path)))
        responses.append(("csrf 403", anonymous.post_form("/signin", {}, csrf=None)))
        responses.append(
            ("sign-in 401", anonymous.post_form("/signin", {"email": "x@example.com"}))
        )
    with site.browser(learner) as browser:
        for path in (SAMPLE_LESSON, "/dashboard", "/upgrade", "/courses/cloud-native/lessons/999"):
            responses.append((path, browser.client.get(path)))
        responses.append(("focus 422", browser.post_form("/me/focus-sessions", {"minutes": "x"})))
    return responses


def test_every_html_response_carries_the_security_headers(site: Site) -> None:
    wrong = []
    responses = _html_responses(site)
    for where, response in responses:
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        headers = response.headers
        policy = {
            directive.split()[0]: directive.split()[1:]
            for directive in headers.get("content-security-policy", "").split(";")
            if directive.strip()
        }
        scripts = policy.get("script-src", policy.get("default-src"))
        problems = []
        if not scripts:
            problems.append("no script-src or default-src")
        elif {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(scripts):
            problems.append(f"script-src {scripts}")
        if policy.get("object-src") != ["'none'"]:
            problems.append(f"object-src {policy.get('object-src')}")
        framing = policy.get("frame-ancestors")
        if framing != ["'none'"] and headers.get("x-frame-options", "").upper() != "DENY":
            problems.append("framing allowed")
        if headers.get("x-content-type-options") != "nosniff":
            problems.append("no nosniff")
        if headers.get("referrer-policy") not in {"no-referrer", "strict-origin-when-cross-origin"}:
            problems.append(f"referrer-policy {headers.get('referrer-policy')}")
        if problems:
            wrong.append(f"{where} ({response.status_code}): {problems}")
        assert_inert(response.text, where)
    statuses = {response.status_code for _, response in responses}
    assert {200, 401, 403, 404, 422} <= statuses, statuses  # pages and error pages both seen
    assert not wrong, "\n".join(wrong)
