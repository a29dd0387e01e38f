"""`/v1/audit-events`: the tenant's security events, newest first, for admins."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from api.deps import Caller, Deps
from api.guards import admin_only
from api.identity_schemas import AUDIT_PATH, AuditEventList, audit_list
from api.openapi import API_KEY_SECURITY, problem_responses
from domain.services import audit as service


class AuditController(Controller):
    path = AUDIT_PATH
    tags = ["audit"]
    security = API_KEY_SECURITY
    guards = [admin_only]

    @get(
        "/",
        operation_id="listAuditEvents",
        summary="List the tenant's security events, newest first",
        description=(
            "Logins (succeeded, failed, MFA required), refresh-token reuse, logouts, API keys "
            "created and revoked, MFA events. Pass `next_cursor` back for the next page."
        ),
        sync_to_thread=True,
        responses=problem_responses(
            {
                401: "UNAUTHORIZED: the token or API key is missing, invalid or revoked.",
                403: "FORBIDDEN: only admins read the audit log.",
                400: "INVALID_REQUEST, INVALID_CURSOR or INVALID_LIMIT: a bad query parameter.",
                500: "INTERNAL_ERROR: an unexpected failure; it is logged under the "
                "correlation_id.",
            }
        ),
    )
    def list_events(
        self,
        deps: Deps,
        principal: Caller,
        cursor: Annotated[
            str | None,
            Parameter(description="`next_cursor` of the previous page.", max_length=512),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=service.MAX_PAGE)] = 50,
    ) -> AuditEventList:
        return audit_list(
            service.list_events(principal, deps.uow_factory, cursor=cursor, limit=limit)
        )
