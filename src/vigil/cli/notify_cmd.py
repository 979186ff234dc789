"""``vigil notify``: where red flags are sent (webhooks, MQTT), which go where, the delivery log,
escalation times, and a standalone deliverer."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Annotated

import typer

from vigil.cli.context import cli_by, settings_from
from vigil.domain.audit import Actor
from vigil.domain.channels import ChannelService, EndpointSpec
from vigil.domain.vocabulary import EndpointKind

app = typer.Typer(
    help="Reach: endpoints (webhooks, MQTT brokers), the rules that route red flags to them, the delivery log "
    "and escalation. Every event is written into the database's outbox with the change itself and delivered "
    "at least once by any running `vigil serve`, `vigil worker` or `vigil notify deliver`.",
    no_args_is_help=True,
)
endpoint_app = typer.Typer(help="Webhooks and MQTT brokers.", no_args_is_help=True)
rule_app = typer.Typer(help="Which events go to which endpoint, and what of them.", no_args_is_help=True)
app.add_typer(endpoint_app, name="endpoint")
app.add_typer(rule_app, name="rule")


def _channels(ctx: typer.Context) -> ChannelService:
    from vigil.domain.audit import AuditLog
    from vigil.notify.mqtt import check_broker
    from vigil.store.db import open_database

    settings = settings_from(ctx)
    db = open_database(settings)
    return ChannelService(
        db,
        audit=AuditLog(db, key_file=settings.resolved_audit_key_file),
        broker_check=check_broker,
        allowed=settings.outbound_networks,
    )


def _kind_of(url: str) -> str:
    return EndpointKind.MQTT if url.startswith(("mqtt://", "mqtts://")) else EndpointKind.WEBHOOK


@endpoint_app.command("add")
def endpoint_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Endpoint name (letters, digits, '.', '_', '-').")],
    url: Annotated[str, typer.Argument(help="https://… or http://… (a webhook), mqtt://host[:port] or mqtts://…")],
    key_id: Annotated[
        str, typer.Option("--key-id", help="Webhook: the signing key's id, sent with each signature.")
    ] = "k1",
    secret: Annotated[
        str,
        typer.Option(
            "--secret",
            envvar="VIGIL_NOTIFY_SECRET",
            help="Webhook: the signing secret (16+ characters; default: one is made and printed once). "
            "MQTT: the password.",
        ),
    ] = "",
    username: Annotated[str, typer.Option("--username", help="MQTT: the user name.")] = "",
    topic_prefix: Annotated[str, typer.Option("--topic-prefix", help="MQTT: the topics' first levels.")] = "vigil",
    timeout_s: Annotated[float, typer.Option("--timeout-s", help="Seconds one attempt may take.")] = 5.0,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Deliveries in flight at once.")] = 4,
    retry_for_s: Annotated[
        float, typer.Option("--retry-for-s", help="How long a failing delivery is retried (at least a day).")
    ] = 86_400.0,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="MQTT: save without connecting to the broker first.")
    ] = False,
) -> None:
    """Add an endpoint. An MQTT broker is connected to first: one that refuses the credentials (or cannot be
    reached) is an error naming the field, and nothing is saved."""
    spec = EndpointSpec(
        name=name,
        kind=_kind_of(url),
        url=url,
        key_id=key_id,
        secret=secret,
        username=username,
        topic_prefix=topic_prefix,
        timeout_s=timeout_s,
        concurrency=concurrency,
        retry_for_s=retry_for_s,
    )
    added = _channels(ctx).add_endpoint(spec, by=cli_by(), check=not no_check)
    typer.echo(f"{added.endpoint.name}  {added.endpoint.kind}  {added.endpoint.url}")
    if added.secret:
        typer.echo(
            f"signing secret (key id {added.endpoint.key_id}; shown once, give it to the receiver): {added.secret}"
        )


@endpoint_app.command("list")
def endpoint_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False
) -> None:
    """The endpoints (URLs without credentials; secrets are never shown)."""
    for view in _channels(ctx).endpoints():
        if as_json:
            typer.echo(json.dumps(view.__dict__))
        else:
            state = "" if view.active else "  (inactive)"
            typer.echo(
                f"{view.name}  {view.kind}  {view.url}  timeout {view.timeout_s:g} s  x{view.concurrency}{state}"
            )


@endpoint_app.command("remove")
def endpoint_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Endpoint name.")]) -> None:
    """Remove an endpoint, its rules and its undelivered events."""
    _channels(ctx).remove_endpoint(name, by=cli_by())
    typer.echo(f"removed {name}")


@rule_app.command("add")
def rule_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Rule name.")],
    endpoint: Annotated[str, typer.Option("--endpoint", help="Where the matching events go.")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            help="An event kind (repeatable): raised, acknowledged, escalated, confirmed, rejected, inconclusive. "
            "Default: raised.",
        ),
    ] = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", help="Only this category (repeatable; default: every one).")
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", help="Only cameras of this group (repeatable; default: every one).")
    ] = None,
    min_score: Annotated[
        float | None, typer.Option("--min-score", help="Only alerts whose track evidence is at least this.")
    ] = None,
    include_crop: Annotated[
        bool, typer.Option("--include-crop", help="Send the live face crop too (audited per delivery).")
    ] = False,
    include_photo: Annotated[
        bool, typer.Option("--include-photo", help="Send the enrolled photo too (audited per delivery).")
    ] = False,
    proposed_by: Annotated[
        str | None, typer.Option("--proposed-by", help="The admin proposing a rule that sends images.")
    ] = None,
    approved_by: Annotated[
        str | None,
        typer.Option(
            "--approved-by",
            help="A different admin approving it at once. Without it a rule that sends images is proposed and "
            "delivers nothing until approved (`vigil notify rule approve` or the Notifications page).",
        ),
    ] = None,
) -> None:
    """Route events to an endpoint. What is sent is minimal unless the rule says otherwise: subject id,
    category, camera and place, times, evidence and a link that needs a login. A rule that sends the
    face crop or the enrolled photo needs two admins."""
    if approved_by and not proposed_by:
        raise typer.BadParameter("name the proposing admin too (--proposed-by)", param_hint="--proposed-by")
    by = Actor(proposed_by, "cli") if proposed_by else cli_by()
    view = _channels(ctx).add_rule(
        name,
        endpoint,
        by=by,
        approved_by=approved_by or "",
        event_kinds=event or ["raised"],
        categories=category or [],
        camera_groups=group or [],
        min_score=min_score,
        include_crop=include_crop,
        include_photo=include_photo,
    )
    typer.echo(_rule_line(view))


def _rule_line(view: object) -> str:
    v = view.__dict__
    scope = [
        f"events {','.join(v['event_kinds'])}",
        f"categories {','.join(v['categories']) or 'all'}",
        f"groups {','.join(v['camera_groups']) or 'all'}",
    ]
    if v["min_score"] is not None:
        scope.append(f"evidence >= {v['min_score']:g}")
    images = [w for w, on in (("crop", v["include_crop"]), ("enrolled photo", v["include_photo"])) if on]
    scope.append(f"with {' and '.join(images)}" if images else "no images")
    if v["state"] == "proposed":  # what `rule approve` needs, for a script to pass on
        scope.append(
            f"proposed by {v['created_by'] or '?'}: delivers nothing until another admin approves digest {v['digest']}"
        )
    elif v["approved_by"]:
        scope.append(f"approved by {v['approved_by']}")
    return f"{v['name']} -> {v['endpoint']}: " + "; ".join(scope)


@rule_app.command("approve")
def rule_approve(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Rule name.")],
    approved_by: Annotated[str, typer.Option("--approved-by", help="The approving admin (not the proposer).")],
    digest: Annotated[str, typer.Option("--digest", help="The rule's digest as `rule list --json` shows it.")],
) -> None:
    """Approve a proposed rule (one that sends images) as it was proposed."""
    view = _channels(ctx).approve_rule(name, digest=digest, by=Actor(approved_by, "cli"))
    typer.echo(_rule_line(view))


@rule_app.command("list")
def rule_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False
) -> None:
    """The routing rules."""
    for view in _channels(ctx).rules():
        typer.echo(json.dumps(view.__dict__) if as_json else _rule_line(view))


@rule_app.command("remove")
def rule_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Rule name.")]) -> None:
    """Remove a rule (events already in the outbox are still delivered)."""
    _channels(ctx).remove_rule(name, by=cli_by())
    typer.echo(f"removed {name}")


@app.command("log")
def delivery_log(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False
) -> None:
    """Each endpoint's deliveries: pending, delivered, abandoned, attempts, the last error and the lag."""
    from vigil.services import open_outbox
    from vigil.store.db import open_database

    settings = settings_from(ctx)
    for log in open_outbox(settings, open_database(settings)).logs():
        if as_json:
            typer.echo(json.dumps(log.__dict__, default=str))
        else:
            flag = "  FAILING" if log.flagged else ""
            error = f"  last error: {log.last_error}" if log.last_error else ""
            typer.echo(
                f"{log.name}  {log.kind}  delivered {log.delivered}  pending {log.pending}  abandoned {log.abandoned}  "
                f"attempts {log.attempts}  lag {log.lag_s:.1f} s{flag}{error}"
            )


@app.command("escalate")
def escalate(
    ctx: typer.Context,
    category: Annotated[str, typer.Argument(help="Category.")],
    seconds: Annotated[
        float, typer.Argument(help="Escalate a red flag nobody acknowledged within this many seconds; 0: never.")
    ],
) -> None:
    """Set a category's time to acknowledge. When it passes, the red flag escalates: every open Live page
    sounds a louder tone and the rules for `escalated` events send it on (e.g. to supervisors)."""
    value = _channels(ctx).set_ack_time(category, seconds or None, by=cli_by())
    typer.echo(f"{category}: " + (f"escalates after {value:g} s unacknowledged" if value else "never escalates"))


@app.command("deliver")
def deliver(ctx: typer.Context) -> None:
    """Deliver the outbox (and escalate) in this process until Ctrl-C or SIGTERM — for a deployment that
    runs delivery on its own; `vigil serve` and `vigil worker` deliver too."""
    from vigil.bus import open_bus
    from vigil.domain.adjudication import AlertService
    from vigil.domain.audit import AuditLog
    from vigil.services import open_deliverer, open_outbox, process_name
    from vigil.store.db import open_database

    settings = settings_from(ctx)
    logging.getLogger("vigil").setLevel(min(logging.getLogger("vigil").getEffectiveLevel(), logging.INFO))
    db = open_database(settings)
    outbox = open_outbox(settings, db)
    bus = open_bus(settings.redis_url)
    alerts = AlertService(db, AuditLog(db, key_file=settings.resolved_audit_key_file), outbox=outbox)
    deliverer = open_deliverer(
        settings.model_copy(update={"notify": True}), db, outbox, alerts, bus, owner=process_name("deliver")
    )
    assert deliverer is not None
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    deliverer.start()
    typer.echo("delivering the outbox; Ctrl-C to stop", err=True)
    try:
        stop.wait()
    finally:
        deliverer.close()
        bus.close()
