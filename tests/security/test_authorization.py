"""The authorization matrix, generated from the real app's route table.

For every (method, path template) in `app.routes` and every kind of person (see access_rules.py),
one real HTTP request with real objects in the path (the sample course, lesson 9, a real
exercise, the learner's own written response) must give the outcome the rule states. A route
without a rule fails `test_every_route_has_an_access_rule`.
"""

from __future__ import annotations

import httpx
import pytest

from .access_rules import PEOPLE, RULES, Rule, route_keys
from .conftest import Browser, Person, Site


def test_every_route_has_an_access_rule(site: Site) -> None:
    keys = route_keys(site.server.app.routes)
    missing = [f"{method} {path}" for method, path in keys if (method, path) not in RULES]
    assert not missing, "new route(s) with no access rule in tests/security/access_rules.py: " + (
        ", ".join(missing)
    )
    stale = [f"{m} {p}" for m, p in RULES if (m, p) not in set(keys)]
    assert not stale, f"access rules for routes that no longer exist: {stale}"


def _send(site: Site, person: Person, method: str, template: str, rule: Rule) -> httpx.Response:
    path = site.path(template, rule.request.exercise_id)
    if path.startswith("/api/v1/"):
        with httpx.Client(base_url=site.url, timeout=60) as client:
            return client.request(
                method,
                path,
                json=site.body(rule.request.json, person),
                headers=person.api_headers,
            )
    with Browser(site.url, site.session_for(person)) as browser:
        if method == "GET":
            return browser.client.get(path)
        return browser.post_form(path, site.body(rule.request.form, person))


def _outcome_matches(expected: str, response: httpx.Response) -> bool:
    status, _, location = expected.partition(" ")
    if str(response.status_code) != status:
        return False
    return not location or response.headers.get("location", "").startswith(location)


@pytest.mark.parametrize("who", PEOPLE)
def test_access_matrix(site: Site, who: str) -> None:
    person = site.people[who]
    wrong = []
    for method, template in route_keys(site.server.app.routes):
        rule = RULES.get((method, template))
        if rule is None:
            continue  # reported by test_every_route_has_an_access_rule
        expected = rule.expected(who)
        response = _send(site, person, method, template, rule)
        if not _outcome_matches(expected, response):
            wrong.append(
                f"{method} {template} as {who}: expected {expected}, got "
                f"{response.status_code} {response.headers.get('location', '')} "
                f"{response.text[:150]!r}"
            )
    assert not wrong, "\n".join(wrong)


def test_a_session_cookie_is_not_an_api_credential(site: Site) -> None:
    """The API takes only bearer tokens, so a cross-site request riding on cookies gets 401."""
    learner = site.people["learner"]
    wrong = []
    for method, template in route_keys(site.server.app.routes):
        rule = RULES.get((method, template))
        if rule is None or rule.anonymous != "401":
            continue
        with Browser(site.url, site.session_for(learner)) as browser:
            path = site.path(template, rule.request.exercise_id)
            response = browser.client.request(
                method, path, json=site.body(rule.request.json, learner)
            )
        if response.status_code != 401:
            wrong.append(f"{method} {template}: {response.status_code}")
    assert not wrong, wrong
