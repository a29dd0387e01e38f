"""`/v1/api-keys`: an admin issues, lists and revokes the tenant's API keys.

Thin handlers (STYLE.md 4) on domain.services.api_keys; the key itself is in the creation's
answer only. A revoked key may keep working for a few seconds on each API process (the
authentication cache, api/auth.py).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody, Parameter

from api.content_type import require_json
from api.deps import Caller, Deps
from api.guards import admin_only
from api.identity_schemas import (
    API_KEYS_PATH,
    ApiKeyCreate,
    ApiKeyList,
    CreatedApiKeyView,
    api_key_view,
    created_key_view,
)
from api.openapi import API_KEY_SECURITY, BODY_INVALID, problem_responses
from domain.errors import NotFound
from domain.mfa.policy import Proof
from domain.services import api_keys as service
from domain.services.mfa import check_fresh

_AUTH = {
    401: "UNAUTHORIZED: the token or API key is missing, invalid or revoked.",
    403: "FORBIDDEN: only admins manage API keys.",
    500: "INTERNAL_ERROR: an unexpected failure; it is logged under the correlation_id.",
}

KeyId = Annotated[str, Parameter(description="The key's id (a UUID).")]


def _key_id(text: str) -> uuid.UUID:
    """A malformed id names no key: the same 404 as a missing one."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound(f"no API key {text[:100]}", code="API_KEY_NOT_FOUND") from None


class ApiKeyController(Controller):
    path = API_KEYS_PATH
    tags = ["api-keys"]
    security = API_KEY_SECURITY
    guards = [admin_only]

    @post(
        "/",
        operation_id="createApiKey",
        summary="Issue an API key",
        description="The answer holds the key itself (`key`), this once; store it now.",
        status_code=201,
        guards=[require_json],
        sync_to_thread=True,
        responses=problem_responses(
            {
                **_AUTH,
                400: "INVALID_REQUEST: a malformed body; INVALID_KEY_NAME: a name with "
                "control characters; MFA_FACTOR_REQUIRED: a user with MFA gave no fresh code.",
                **BODY_INVALID,
                429: "ACCOUNT_LOCKED: too many failed codes for this account.",
                415: "UNSUPPORTED_MEDIA_TYPE: the body is not `application/json`.",
            }
        ),
    )
    def create_key(
        self, data: JSONBody[ApiKeyCreate], deps: Deps, principal: Caller
    ) -> Response[CreatedApiKeyView]:
        if principal.user_id is not None:
            proof = Proof(code=data.code, backup_code=data.backup_code, email_code=data.email_code)
            check_fresh(deps.mfa, principal.user_id, proof)
        issued = service.create_key(
            principal, deps.uow_factory, deps.clock, role=data.role, name=data.name
        )
        return Response(
            created_key_view(issued),
            status_code=201,
            headers={"Cache-Control": "no-store", "Location": f"{API_KEYS_PATH}/{issued.key.id}"},
        )

    @get(
        "/",
        operation_id="listApiKeys",
        summary="List the tenant's API keys",
        description="Revoked keys included; each with its visible prefix, never the key.",
        sync_to_thread=True,
        responses=problem_responses(_AUTH),
    )
    def list_keys(self, deps: Deps, principal: Caller) -> ApiKeyList:
        return ApiKeyList(
            items=[api_key_view(k) for k in service.list_keys(principal, deps.uow_factory)]
        )

    @delete(
        "/{key_id:str}",
        operation_id="revokeApiKey",
        summary="Revoke an API key",
        description="The key stops working within a few seconds; revoking it again is a no-op.",
        sync_to_thread=True,
        responses=problem_responses(
            {
                **_AUTH,
                400: "INVALID_REQUEST: a malformed parameter.",
                404: "API_KEY_NOT_FOUND: no key with this id in the caller's tenant.",
            }
        ),
    )
    def revoke_key(self, key_id: KeyId, deps: Deps, principal: Caller) -> None:
        service.revoke_key(principal, _key_id(key_id), deps.uow_factory, deps.clock)
