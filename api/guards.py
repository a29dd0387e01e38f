"""Role guards (Litestar guards run before the body is read and before the handler).

A viewer reads; planners and service keys also submit and cancel jobs; only admins manage
users, API keys, webhooks and read the audit log (issue 4). A denial is 403 FORBIDDEN; the
role is named so the caller knows what is missing, the route's rules are public anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.errors import HttpProblem
from domain.tenancy import Principal, Role

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


def require_roles(*roles: Role, action: str) -> Guard:
    allowed = frozenset(roles)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Principal) or user.role not in allowed:
            role = user.role.value if isinstance(user, Principal) else "anonymous"
            raise HttpProblem(403, "FORBIDDEN", f"role {role} may not {action}")

    return guard


can_submit = require_roles(Role.ADMIN, Role.PLANNER, Role.SERVICE, action="submit jobs")
can_cancel = require_roles(Role.ADMIN, Role.PLANNER, Role.SERVICE, action="cancel jobs")
admin_only = require_roles(Role.ADMIN, action="do this: it needs role admin")
