"""Check every API response a test receives against the server's own /openapi.json.

The status must be documented for the route and method, and a JSON body must match the
documented schema. A test that provokes an undocumented response fails, so the published
contract cannot drift from what the server does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator

API_PREFIX = "/api/v1"


@dataclass
class OpenAPIChecker:
    document: dict[str, Any]
    checked: list[tuple[str, str, int]] = field(default_factory=list)

    @classmethod
    def for_server(cls, base_url: str) -> OpenAPIChecker:
        document = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
        return cls(document)

    def _operation(self, method: str, path: str) -> dict[str, Any] | None:
        for template, operations in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path) and method.lower() in operations:
                operation: dict[str, Any] = operations[method.lower()]
                return operation
        return None

    def check(self, response: httpx.Response) -> None:
        request = response.request
        path = request.url.path
        if not path.startswith(API_PREFIX):
            return
        response.read()
        operation = self._operation(request.method, path)
        assert operation is not None, f"{request.method} {path} is not in /openapi.json"
        documented = operation["responses"]
        status = str(response.status_code)
        assert status in documented, (
            f"{request.method} {path} answered {status}, documented: {sorted(documented)}"
            f"\n{response.text[:500]}"
        )
        content = documented[status].get("content", {}).get("application/json")
        if content is None:
            return
        assert response.headers["content-type"].startswith("application/json")
        schema = {"components": self.document["components"], **content["schema"]}
        errors = sorted(
            Draft202012Validator(schema).iter_errors(response.json()), key=lambda e: e.path
        )
        assert not errors, f"{request.method} {path} {status} violates its schema: {errors[0]}"
        self.checked.append((request.method, path, response.status_code))
