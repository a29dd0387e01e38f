"""`/v1/webhooks`: register a URL for job events, list and delete, follow and redeliver.

Thin handlers (STYLE.md 4) on domain.services.webhooks. They are sync and run in Litestar's
thread pool: the use cases are synchronous, and registering resolves the URL's host (the SSRF
guard), which may wait on DNS.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody, Parameter

from api.content_type import require_json
from api.deps import Caller, Deps
from api.guards import admin_only
from api.openapi import API_KEY_SECURITY, BODY_INVALID, problem_responses
from api.webhook_schemas import (
    WEBHOOKS_PATH,
    CreatedWebhookView,
    DeliveryList,
    DeliveryView,
    WebhookCreate,
    WebhookList,
    created_webhook_view,
    delivery_list,
    delivery_view,
    webhook_path,
    webhook_view,
)
from domain.adapters.webhook_guard import WebhookGuard
from domain.errors import NotFound
from domain.services import webhooks as service

_AUTH = {
    401: "UNAUTHORIZED: the access token or API key is missing, invalid or revoked.",
    403: "FORBIDDEN: only admins manage webhooks.",
    500: "INTERNAL_ERROR: an unexpected failure; it is logged under the correlation_id.",
}
_NOT_FOUND = {404: "WEBHOOK_NOT_FOUND: no webhook with this id in the caller's tenant."}
_BAD_PARAMETER = {400: "INVALID_REQUEST: a malformed parameter."}

WebhookId = Annotated[str, Parameter(description="The webhook's id (a UUID).")]
DeliveryId = Annotated[str, Parameter(description="The delivery's id (its `webhook-id`).")]


def _parse_id(text: str, code: str, what: str) -> uuid.UUID:
    """A malformed id names nothing: the same 404 as a missing one."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound(f"no {what} {text[:100]}", code=code) from None


def _webhook_id(text: str) -> uuid.UUID:
    return _parse_id(text, "WEBHOOK_NOT_FOUND", "webhook")


class WebhookController(Controller):
    path = WEBHOOKS_PATH
    tags = ["webhooks"]
    security = API_KEY_SECURITY
    guards = [admin_only]  # only admins manage webhooks (issue 4)

    @post(
        "/",
        operation_id="createWebhook",
        summary="Register a webhook",
        description=(
            "Job events (`job.succeeded`, `job.failed`, `job.cancelled`) are POSTed to the URL, "
            "signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, "
            "`webhook-signature`) with the `secret` returned here, once; the job's correlation "
            "id is in `X-Request-ID`. The host must resolve to public addresses only."
        ),
        status_code=201,
        guards=[require_json],
        sync_to_thread=True,
        responses=problem_responses(
            {
                **_AUTH,
                400: "INVALID_REQUEST: a malformed body; WEBHOOK_URL_INVALID: not an http(s) "
                "URL without credentials; WEBHOOK_URL_FORBIDDEN: the host resolves to a "
                "non-public address; WEBHOOK_URL_UNRESOLVABLE: the host does not resolve; "
                "INVALID_WEBHOOK_EVENTS: an unknown or empty list of events.",
                **BODY_INVALID,
                409: "WEBHOOK_LIMIT_REACHED: the tenant has the most webhooks allowed.",
                415: "UNSUPPORTED_MEDIA_TYPE: the body is not `application/json`.",
            }
        ),
    )
    def create_webhook(
        self, data: JSONBody[WebhookCreate], deps: Deps, principal: Caller
    ) -> Response[CreatedWebhookView]:
        guard = WebhookGuard(deps.settings.webhook_allow_networks)
        created = service.create_webhook(
            service.CreateWebhook(principal=principal, url=data.url, events=data.events),
            deps.uow_factory,
            guard,
            deps.clock,
        )
        return Response(
            created_webhook_view(created),
            status_code=201,
            headers={"Location": webhook_path(created.webhook.id)},
        )

    @get(
        "/",
        operation_id="listWebhooks",
        summary="List webhooks",
        description="The caller's webhooks, oldest first, without their secrets.",
        sync_to_thread=True,
        responses=problem_responses(_AUTH),
    )
    def list_webhooks(self, deps: Deps, principal: Caller) -> WebhookList:
        items = service.list_webhooks(principal, deps.uow_factory)
        return WebhookList(items=[webhook_view(w) for w in items])

    @delete(
        "/{webhook_id:str}",
        operation_id="deleteWebhook",
        summary="Delete a webhook",
        description="Its pending deliveries are never sent.",
        sync_to_thread=True,
        responses=problem_responses({**_AUTH, **_BAD_PARAMETER, **_NOT_FOUND}),
    )
    def delete_webhook(self, webhook_id: WebhookId, deps: Deps, principal: Caller) -> None:
        service.delete_webhook(principal, _webhook_id(webhook_id), deps.uow_factory)

    @get(
        "/{webhook_id:str}/deliveries",
        operation_id="listWebhookDeliveries",
        summary="List a webhook's deliveries, newest first",
        description=(
            "One delivery per job event: its status (`pending` while attempts remain, "
            "`succeeded`, `failed`), attempts and the last answer. Pass `next_cursor` back "
            "for the next page."
        ),
        sync_to_thread=True,
        responses=problem_responses(
            {
                **_AUTH,
                400: "INVALID_REQUEST, INVALID_CURSOR or INVALID_LIMIT: a bad query parameter.",
                **_NOT_FOUND,
            }
        ),
    )
    def list_deliveries(
        self,
        webhook_id: WebhookId,
        deps: Deps,
        principal: Caller,
        cursor: Annotated[
            str | None,
            Parameter(description="`next_cursor` of the previous page.", max_length=512),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=service.MAX_PAGE)] = 50,
    ) -> DeliveryList:
        page = service.list_deliveries(
            principal, _webhook_id(webhook_id), deps.uow_factory, cursor=cursor, limit=limit
        )
        return delivery_list(page)

    @post(
        "/{webhook_id:str}/deliveries/{delivery_id:str}/redeliver",
        operation_id="redeliverWebhookDelivery",
        summary="Send a delivery again",
        description=(
            "Schedules the delivery now, with a fresh series of attempts and the same "
            "`webhook-id`, whatever its status was."
        ),
        status_code=202,
        sync_to_thread=True,
        responses=problem_responses(
            {
                **_AUTH,
                **_BAD_PARAMETER,
                404: "WEBHOOK_NOT_FOUND: no such webhook; DELIVERY_NOT_FOUND: no such delivery "
                "of this webhook.",
            }
        ),
    )
    def redeliver(
        self, webhook_id: WebhookId, delivery_id: DeliveryId, deps: Deps, principal: Caller
    ) -> DeliveryView:
        delivery = service.redeliver(
            principal,
            _webhook_id(webhook_id),
            _parse_id(delivery_id, "DELIVERY_NOT_FOUND", "delivery"),
            deps.uow_factory,
            deps.queue,
            deps.clock,
        )
        return delivery_view(delivery)
