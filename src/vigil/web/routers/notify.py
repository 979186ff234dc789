"""Reach, for admins: endpoints (webhooks, MQTT brokers), routing rules, the delivery log and each
category's time to acknowledge. Bad configuration is a 422 naming the field; nothing is saved."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from vigil.domain.audit import Actor
from vigil.domain.channels import ChannelError, ChannelRefused, EndpointSpec
from vigil.domain.users import Principal
from vigil.domain.vocabulary import EndpointKind
from vigil.web.context import WebContext
from vigil.web.schemas import AckTimeIn, DeliveryLogOut, EndpointIn, EndpointOut, RuleApproveIn, RuleIn, RuleOut
from vigil.web.security import Admin, Ctx, client_address

router = APIRouter(prefix="/api/notify", tags=["notify"])


def _refused(exc: ChannelError, request: Request, who: Principal, ctx: WebContext) -> HTTPException:
    """One JSON error naming the rule (and the field, for a bad setting); the refusal is audited."""
    if isinstance(exc, ChannelRefused):
        status, detail = exc.status, {"rule": exc.rule, "field": exc.field, "message": exc.detail}
    else:
        status, detail = 422, {"rule": exc.rule, "field": exc.rule, "message": exc.detail}
    ctx.refusals.refused(who.username, status, request.method, request.url.path, client_address(request), str(exc))
    return HTTPException(status, detail)


@router.get("/endpoints", response_model=list[EndpointOut])
def endpoints(who: Admin, ctx: Ctx) -> list[EndpointOut]:
    return [EndpointOut(**e.__dict__) for e in ctx.channels.endpoints()]


@router.post("/endpoints", response_model=EndpointOut, status_code=201)
def add_endpoint(body: EndpointIn, request: Request, who: Admin, ctx: Ctx) -> EndpointOut:
    """Add an endpoint; a webhook without a secret gets one, returned in this answer only. An MQTT broker is
    connected to first (refused credentials: 422 naming the field)."""
    kind = EndpointKind.MQTT if body.url.startswith(("mqtt://", "mqtts://")) else EndpointKind.WEBHOOK
    spec = EndpointSpec(kind=kind, **body.model_dump())
    try:
        added = ctx.channels.add_endpoint(spec, by=Actor(who.username, client_address(request)))
    except ChannelError as exc:
        raise _refused(exc, request, who, ctx) from None
    return EndpointOut(**added.endpoint.__dict__, secret=added.secret)


@router.delete("/endpoints/{name}", status_code=204)
def remove_endpoint(name: str, request: Request, who: Admin, ctx: Ctx) -> None:
    try:
        ctx.channels.remove_endpoint(name, by=Actor(who.username, client_address(request)))
    except ChannelError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/rules", response_model=list[RuleOut])
def rules(who: Admin, ctx: Ctx) -> list[RuleOut]:
    return [RuleOut(**r.__dict__) for r in ctx.channels.rules()]


@router.post("/rules", response_model=RuleOut, status_code=201)
def add_rule(body: RuleIn, request: Request, who: Admin, ctx: Ctx) -> RuleOut:
    try:
        view = ctx.channels.add_rule(
            body.name,
            body.endpoint,
            by=Actor(who.username, client_address(request)),
            event_kinds=body.event_kinds,
            categories=body.categories,
            camera_groups=body.camera_groups,
            min_score=body.min_score,
            include_crop=body.include_crop,
            include_photo=body.include_photo,
        )
    except ChannelError as exc:
        raise _refused(exc, request, who, ctx) from None
    return RuleOut(**view.__dict__)


@router.post("/rules/{name}/approve", response_model=RuleOut)
def approve_rule(name: str, body: RuleApproveIn, request: Request, who: Admin, ctx: Ctx) -> RuleOut:
    """A different admin approves a proposed rule (one that sends images) as it was proposed: ``digest`` is
    the one shown with it; a rule changed since is refused (409 ``proposal-changed``)."""
    try:
        view = ctx.channels.approve_rule(name, digest=body.digest, by=Actor(who.username, client_address(request)))
    except ChannelError as exc:
        raise _refused(exc, request, who, ctx) from None
    return RuleOut(**view.__dict__)


@router.delete("/rules/{name}", status_code=204)
def remove_rule(name: str, request: Request, who: Admin, ctx: Ctx) -> None:
    try:
        ctx.channels.remove_rule(name, by=Actor(who.username, client_address(request)))
    except ChannelError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/log", response_model=list[DeliveryLogOut])
def delivery_log(who: Admin, ctx: Ctx) -> list[DeliveryLogOut]:
    """Per endpoint: pending, delivered, abandoned, attempts, the last status and error, the lag, and whether
    it has been failing for longer than the settings allow (flagged)."""
    return [DeliveryLogOut(**log.__dict__) for log in ctx.outbox.logs()]


@router.get("/escalation", response_model=dict[str, float | None])
def ack_times(who: Admin, ctx: Ctx) -> dict[str, float | None]:
    """Each category's time to acknowledge before a red flag escalates (null: never)."""
    return ctx.channels.ack_times()


@router.put("/escalation", response_model=dict[str, float | None])
def set_ack_time(body: AckTimeIn, request: Request, who: Admin, ctx: Ctx) -> dict[str, float | None]:
    try:
        ctx.channels.set_ack_time(body.category, body.seconds or None, by=Actor(who.username, client_address(request)))
    except ChannelError as exc:
        raise _refused(exc, request, who, ctx) from None
    return ctx.channels.ack_times()
