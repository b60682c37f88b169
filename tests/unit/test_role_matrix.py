"""docs/console.md's role matrix is the one the admin routes enforce."""

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from bot.api.routers import API_ROUTERS
from bot.api_keys import Role
from bot.deps import require_admin, require_editor, require_viewer

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "console.md"
_ROW = re.compile(r"^\| `(?P<method>[A-Z]+) (?P<path>/\S+)` \| (?P<marks>.+) \|$")
_CHECKS = {require_viewer: Role.viewer, require_editor: Role.editor, require_admin: Role.admin}


def documented() -> dict[tuple[str, str], set[Role]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if match := _ROW.match(line):
            marks = [mark.strip() for mark in match["marks"].split("|")]
            rows[(match["method"], match["path"])] = {role for role, mark in zip(Role, marks) if mark == "✓"}
    return rows


def enforced() -> dict[tuple[str, str], set[Role]]:
    rows = {}
    for router in API_ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.path.startswith("/admin"):
                continue
            needed, stack = None, [route.dependant]
            while stack:
                dependant = stack.pop()
                if dependant.call in _CHECKS:
                    needed = max(needed or Role.viewer, _CHECKS[dependant.call])
                stack.extend(dependant.dependencies)
            assert needed is not None, f"{route.path} checks no role"
            for method in route.methods:
                rows[(method, route.path)] = {role for role in Role if role >= needed}
    return rows


def test_every_admin_route_is_in_the_matrix_with_the_roles_it_allows():
    docs, routes = documented(), enforced()
    assert len(routes) > 40
    assert {key: docs.get(key) for key in routes} == routes
    assert docs.keys() - routes.keys() == set(), "the matrix lists routes that do not exist"


def test_what_customers_wrote_needs_the_admin_role():
    routes = enforced()
    for path in ("/admin/gaps", "/admin/conversations", "/admin/customers"):
        assert routes[("GET", path)] == {Role.admin}
