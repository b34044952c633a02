"""Shared pieces of the browser tests: axe-core and layout checks."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page

LESSON = "/courses/cloud-native/lessons/9"
PASSWORD = "violet-lantern-orbit-42"


def axe_violations(page: Page, axe_source: str) -> list[dict[str, Any]]:
    # page.evaluate runs through the DevTools protocol, which the page's CSP does not govern,
    # so axe can be injected without weakening the policy under test.
    page.evaluate(axe_source)
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))
            }));
        }"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def assert_accessible(page: Page, axe_source: str, where: str) -> None:
    serious = axe_violations(page, axe_source)
    assert not serious, f"axe-core on {where}:\n" + json.dumps(serious, indent=2)


def assert_no_sideways_scroll(page: Page, where: str) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{where} scrolls sideways at 360 px: {widths}"
