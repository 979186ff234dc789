"""Trust, round two (issue 27): each finding of the second review, made as an attack over real HTTP
against a running server (uvicorn on a free port, as `vigil serve` serves), refused with one JSON error
naming the rule, nothing changed, and the refusal audited. The browser findings (the login redirect,
the Authorisations and Notifications steps) are in tests/test_browser.py."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
import websockets
from tests.helpers.streaming import MjpegServer, free_port
from tests.helpers.webserver import PASSWORD, RunningServer, start_server

from vigil.domain import users as users_module
from vigil.web.app import create_app, server_config
from vigil.web.context import WebContext


@pytest.fixture
def running(tmp_path: Path, settings, engine) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    """A server that believes X-Forwarded-For from loopback (so a test can speak from many addresses)."""
    server = start_server(tmp_path, settings.model_copy(update={"trusted_proxies": "127.0.0.1"}), engine)
    for username, role in (("admin2", "admin"), ("supervisor2", "supervisor"), ("authoriser2", "authoriser")):
        server.ctx.users.add(username, PASSWORD, role)
    try:
        yield server
    finally:
        server.ctx.fleet.close()
        server.stop()


def bearer(base: str, username: str, address: str = "192.0.2.1") -> dict[str, str]:
    response = httpx.post(
        base + "/api/auth/token",
        json={"username": username, "password": PASSWORD},
        headers={"X-Forwarded-For": address},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}", "X-Forwarded-For": address}


def login(base: str, username: str, password: str, address: str) -> httpx.Response:
    return httpx.post(
        base + "/api/auth/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": address},
    )


def audited(ctx: WebContext, action: str) -> list:  # type: ignore[type-arg]
    return ctx.audit.entries(limit=5000, action=action)


def second_server(ctx: WebContext) -> tuple[str, uvicorn.Server, threading.Thread]:
    """Another web server over the same database (scaled out behind a load balancer)."""
    other = WebContext.build(ctx.settings, ctx.db)
    port = free_port()
    server = uvicorn.Server(server_config(create_app(other), "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    return f"http://127.0.0.1:{port}", server, thread


# ---------------------------------------------------------------- 2. logins: no lockout for everyone
def _pace_under_the_throttle(running: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an attacker gets by spacing the guesses under the per-minute throttle, without the minutes."""
    monkeypatch.setattr(users_module, "THROTTLE_LIMIT", 10_000, raising=False)
    if hasattr(running.ctx, "throttle"):  # the per-process throttle before issue 27
        running.ctx.throttle.limit = 10_000


def test_one_address_cannot_lock_an_account_for_everyone(
    running: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pace_under_the_throttle(running, monkeypatch)
    base, attacker = running.url, "203.0.113.66"
    answers = [login(base, "operator", f"guess {i:03d}!", attacker).status_code for i in range(60)]
    assert set(answers) == {401}  # locked after five: the same answer as a wrong password
    assert login(base, "operator", PASSWORD, attacker).status_code == 401  # the attacker's address stays locked
    assert login(base, "operator", PASSWORD, "10.20.30.40").status_code == 200  # the officer at their desk
    locks = audited(running.ctx, "login-locked")
    assert [(e.actor, e.source) for e in locks] == [("operator", attacker)]  # the lockout, audited once


def test_a_distributed_guess_makes_only_the_guessing_addresses_wait_doubling(running: RunningServer) -> None:
    base = running.url
    for i in range(users_module.ACCOUNT_CEILING):  # one guess from each of fifty addresses
        assert login(base, "operator", "wrong password!", f"198.51.100.{i + 1}").status_code == 401
    first = login(base, "operator", "wrong password!", "198.51.100.3")
    assert first.status_code == 429, first.text
    assert first.json()["detail"]["rule"] == "account-under-attack"
    wait = int(first.headers["Retry-After"])
    assert 1 <= wait <= 2
    assert login(base, "operator", PASSWORD, "198.51.100.3").status_code == 429  # not even the right one, yet
    time.sleep(wait + 0.2)
    assert login(base, "operator", "wrong password!", "198.51.100.3").status_code == 401  # its one try
    second = login(base, "operator", "wrong password!", "198.51.100.3")
    assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 2 * wait - 1  # doubled
    # an address that has not failed is never answered 429; the right password from it logs in
    assert login(base, "operator", "wrong password!", "10.9.9.9").status_code == 401
    assert login(base, "operator", PASSWORD, "10.9.9.8").status_code == 200
    assert len(audited(running.ctx, "login-siege")) == 1  # the siege, audited once
    refusals = [e for e in audited(running.ctx, "access-refused") if e.details["status"] == 429]
    assert refusals and refusals[0].details["path"] == "/api/auth/login"  # the throttle's 429s are audited


def test_the_login_throttle_is_shared_by_every_web_server(running: RunningServer) -> None:
    url, server, thread = second_server(running.ctx)
    try:
        address = "203.0.113.99"
        for i in range(users_module.THROTTLE_LIMIT if hasattr(users_module, "THROTTLE_LIMIT") else 10):
            target = running.url if i % 2 == 0 else url  # alternating between the load balancer's servers
            assert login(target, f"nobody{i}", "wrong password!", address).status_code == 401
        for target in (running.url, url):
            refused = login(target, "auditor", PASSWORD, address)
            assert refused.status_code == 429, refused.text
            assert refused.json()["detail"]["rule"] == "login-throttle" and "Retry-After" in refused.headers
    finally:
        server.should_exit = True
        thread.join(20)


# ---------------------------------------------------------------- 6. every read of subjects is audited
def test_the_due_list_is_audited_and_capped_at_a_year(running: RunningServer) -> None:
    base = running.url
    supervisor = bearer(base, "supervisor")
    whole = httpx.get(base + "/api/subjects/due", params={"days": 3650, "limit": 500}, headers=supervisor)
    assert whole.status_code == 422 and "days" in whole.text
    before = len(audited(running.ctx, "subjects-due-listed"))
    assert before == 0
    year = httpx.get(base + "/api/subjects/due", params={"days": 366, "limit": 500}, headers=supervisor)
    assert year.status_code == 200
    (entry,) = audited(running.ctx, "subjects-due-listed")
    assert entry.actor == "supervisor" and entry.details["days"] == 366
    assert entry.details["results"] == len(year.json()) and entry.details["limit"] == 500


# ---------------------------------------------------------------- Low
def test_api_answers_are_not_cacheable(running: RunningServer) -> None:
    base = running.url
    operator = bearer(base, "operator")
    for path in ("/api/auth/me", "/api/alerts", "/api/cameras", "/api/field"):
        response = httpx.get(base + path, headers=operator)
        assert response.status_code == 200, path
        assert "no-store" in response.headers.get("cache-control", ""), path
    refused = httpx.get(base + "/api/alerts")  # refusals too
    assert refused.status_code == 401 and "no-store" in refused.headers.get("cache-control", "")


def test_one_paging_limit_everywhere(running: RunningServer) -> None:
    base = running.url
    operator, auditor = bearer(base, "operator"), bearer(base, "auditor")
    assert httpx.get(base + "/api/alerts", params={"limit": 1000}, headers=operator).status_code == 422
    assert httpx.get(base + "/api/audit", params={"limit": 5000}, headers=auditor).status_code == 422
    assert httpx.get(base + "/api/alerts", params={"limit": 500}, headers=operator).status_code == 200
    assert httpx.get(base + "/api/audit", params={"limit": 500}, headers=auditor).status_code == 200


def test_the_cookie_is_secure_behind_a_trusted_tls_proxy_on_loopback(running: RunningServer) -> None:
    response = httpx.post(
        running.url + "/api/auth/login",
        json={"username": "operator", "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.7"},
    )
    assert response.status_code == 200
    assert "secure" in response.headers["set-cookie"].lower()
    plain = login(running.url, "operator", PASSWORD, "192.0.2.8")
    assert "secure" not in plain.headers["set-cookie"].lower()  # plain HTTP on loopback: allowed, not Secure


def test_browsing_the_audit_log_and_opening_the_live_socket_are_audited(running: RunningServer) -> None:
    base = running.url
    auditor, operator = bearer(base, "auditor"), bearer(base, "operator")
    page = httpx.get(base + "/api/audit", params={"limit": 20}, headers=auditor)
    assert page.status_code == 200
    (browsed,) = audited(running.ctx, "audit-browsed")
    assert browsed.actor == "auditor" and browsed.details["limit"] == 20

    ticket = httpx.post(base + "/api/auth/ticket", headers=operator).json()["ticket"]

    async def open_socket() -> str:
        url = base.replace("http://", "ws://") + f"/api/alerts/live?ticket={ticket}"
        async with websockets.connect(url, additional_headers={"Origin": base}) as socket:
            return str(await asyncio.wait_for(socket.recv(), 5))

    assert "hello" in asyncio.run(open_socket())
    (opened,) = audited(running.ctx, "live-socket-opened")
    assert opened.actor == "operator"


def test_parallel_requests_do_not_beat_the_media_view_limit(running: RunningServer) -> None:
    limit = 3
    running.ctx.access.views_per_hour = limit
    names = [
        running.ctx.media.save("photos", b"\xff\xd8\xff\xe0 not really a photo " + bytes([i]), "jpg") for i in range(12)
    ]
    operator = bearer(running.url, "operator")
    with ThreadPoolExecutor(12) as pool:
        answers = list(
            pool.map(lambda n: httpx.get(f"{running.url}/api/media/photos/{n}", headers=operator).status_code, names)
        )
    assert answers.count(200) == limit, answers
    assert answers.count(429) == len(names) - limit
    assert len(audited(running.ctx, "photo-viewed")) == limit


# ---------------------------------------------------------------- 3. outbound requests stay off the server's network
LOCAL_TARGETS = [
    "http://127.0.0.1:8080/hook",
    "http://localhost:8080/hook",
    "http://[::1]:8080/hook",
    "http://0.0.0.0:8080/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",  # private: fine for a camera, not for a webhook
    "http://[::ffff:127.0.0.1]/hook",
]


@pytest.mark.parametrize("url", LOCAL_TARGETS)
def test_a_webhook_on_the_servers_own_network_is_refused(running: RunningServer, url: str) -> None:
    admin = bearer(running.url, "admin")
    refused = httpx.post(running.url + "/api/notify/endpoints", json={"name": "inside", "url": url}, headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"]["rule"] == "outbound-address"
    assert httpx.get(running.url + "/api/notify/endpoints", headers=admin).json() == []  # nothing saved
    (entry,) = audited(running.ctx, "outbound-refused")
    assert entry.actor == "admin" and entry.object_id == "inside"


def test_every_connection_is_checked_again_so_dns_rebinding_cannot_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that was public when saved and now answers with a loopback address: the webhook sender
    resolves, checks and connects to the checked address, so nothing reaches the receiver; the same
    receiver, its network named by the server's operator, is reached."""
    from tests.helpers.receivers import WebhookReceiver

    from vigil import netguard
    from vigil.domain.channels import EndpointSecrets
    from vigil.notify.webhook import WebhookSender

    receiver = WebhookReceiver().start()
    try:
        port = receiver.port
        monkeypatch.setattr(netguard, "resolve", lambda host: ["127.0.0.1"] if host == "rebind.example" else [])
        url = f"http://rebind.example:{port}/hook"
        spec = EndpointSecrets("e1", "rebind", "webhook", url, "k1", "s" * 32, "", "vigil", 2.0, 1)
        result = WebhookSender(spec).send("ev-1", "raised", {"x": 1})
        assert not result.ok and "outbound guard" in result.error
        assert receiver.requests() == []
        allowed = netguard.parse_networks("127.0.0.0/8")
        spec = EndpointSecrets("e1", "rebind", "webhook", url, "k1", "s" * 32, "", "vigil", 2.0, 1, allowed)
        assert WebhookSender(spec).send("ev-2", "raised", {"x": 2}).ok  # through the guard, to the checked address
    finally:
        receiver.stop()


def test_the_tests_own_receiver_is_reached_through_the_guard_when_its_network_is_allowed(
    tmp_path: Path, settings, engine
) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.receivers import WebhookReceiver

    receiver = WebhookReceiver().start()
    server = start_server(tmp_path, settings.model_copy(update={"outbound_allowed_networks": "127.0.0.0/8"}), engine)
    try:
        admin = bearer(server.url, "admin")
        added = httpx.post(
            server.url + "/api/notify/endpoints", json={"name": "rx", "url": receiver.url}, headers=admin
        )
        assert added.status_code == 201, added.text
        metadata = {"name": "meta", "url": "http://169.254.169.254/"}
        assert httpx.post(server.url + "/api/notify/endpoints", json=metadata, headers=admin).status_code == 422
    finally:
        receiver.stop()
        server.ctx.fleet.close()
        server.stop()


def test_endpoints_that_fail_the_guard_are_suspended_at_upgrade_not_deleted(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from vigil.domain.channels import ChannelService
    from vigil.store.db import MIGRATIONS, Database, create_db_engine, upgrade_schema

    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0016")
    with engine.begin() as connection:
        for i, (name, url, kind) in enumerate(
            [("inside", "http://127.0.0.1:9/x", "webhook"), ("meta", "http://169.254.169.254/", "webhook"),
             ("broker", "mqtt://10.1.1.1", "mqtt"), ("outside", "https://dispatch.example/x", "webhook")]
        ):  # fmt: skip
            connection.execute(
                text(
                    "INSERT INTO notify_endpoints (id, name, kind, url, active, created_at) "
                    "VALUES (:id, :name, :kind, :url, 1, '2026-01-01 00:00:00.000000')"
                ),
                {"id": f"e{i}", "name": name, "kind": kind, "url": url},
            )
    upgrade_schema(engine)
    views = {v.name: v for v in ChannelService(Database(engine)).endpoints()}
    assert set(views) == {"inside", "meta", "broker", "outside"}  # none deleted
    assert views["inside"].suspended and views["meta"].suspended and views["broker"].suspended
    assert not views["outside"].suspended
    assert set(ChannelService(Database(engine)).delivery_targets()) == {"e3"}  # nothing sent to the suspended


# ---------------------------------------------------------------- 4. the broker check is no port scanner
def test_the_mqtt_broker_check_is_guarded_audited_and_rate_limited(running: RunningServer) -> None:
    from vigil.domain.channels import BROKER_CHECKS
    from vigil.notify.mqtt import check_broker

    running.ctx.channels.broker_check = check_broker  # as `vigil serve` sets it
    admin = bearer(running.url, "admin")
    targets = ["mqtt://127.0.0.1:22", "mqtt://169.254.169.254:80", "mqtt://10.0.0.1:5432", "mqtt://localhost:6379"]
    for i in range(BROKER_CHECKS):
        body = {"name": f"probe-{i}", "url": targets[i % len(targets)]}
        refused = httpx.post(running.url + "/api/notify/endpoints", json=body, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"]["rule"] == "outbound-address"  # nothing about how the port answered
    limited = httpx.post(
        running.url + "/api/notify/endpoints", json={"name": "probe-x", "url": "mqtt://192.0.2.10:1883"}, headers=admin
    )
    assert limited.status_code == 429 and limited.json()["detail"]["rule"] == "broker-check-rate"
    checks = audited(running.ctx, "notify-broker-checked")
    assert len(checks) == BROKER_CHECKS + 1 and {e.actor for e in checks} == {"admin"}
    assert all(e.details["target"] and e.details["result"] for e in checks)
    assert checks[0].details["result"] == "rate-limited"  # newest first
    # another admin has their own allowance
    other = httpx.post(
        running.url + "/api/notify/endpoints",
        json={"name": "probe-y", "url": "mqtt://127.0.0.1:22"},
        headers=bearer(running.url, "admin2"),
    )
    assert other.status_code == 422


def test_parallel_broker_checks_do_not_beat_the_per_user_limit(running: RunningServer) -> None:
    """Twelve MQTT endpoints saved at once by one admin, each to a broker that accepts the connection and
    never answers (so every check lasts its whole timeout): the count and the attempt are one step, so
    exactly the allowance connects and the rest are refused before connecting."""
    from functools import partial

    from vigil import netguard
    from vigil.domain.channels import BROKER_CHECKS
    from vigil.notify.mqtt import check_broker

    running.ctx.channels.broker_check = partial(check_broker, timeout_s=2.0)
    running.ctx.channels.allowed = netguard.parse_networks("127.0.0.1/32")  # the silent broker's network
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel completes each connection; nothing ever answers
    admin = bearer(running.url, "admin")
    url = f"mqtt://127.0.0.1:{silent.getsockname()[1]}"

    def save(i: int) -> int:
        body = {"name": f"silent-{i}", "url": url}
        return httpx.post(running.url + "/api/notify/endpoints", json=body, headers=admin, timeout=30).status_code

    try:
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(save, range(12)))
    finally:
        silent.close()
    assert answers.count(429) == 12 - BROKER_CHECKS, answers
    assert answers.count(422) == BROKER_CHECKS  # the broker did not answer: nothing saved
    assert len(audited(running.ctx, "notify-broker-check")) == BROKER_CHECKS  # the attempts, counted
    results = [e.details["result"] for e in audited(running.ctx, "notify-broker-checked")]
    assert len(results) == 12 and results.count("rate-limited") == 12 - BROKER_CHECKS
    assert httpx.get(running.url + "/api/notify/endpoints", headers=admin).json() == []


SYSTEM_BROKER = ("127.0.0.1", 1883)


def _system_broker_missing() -> str | None:
    try:
        socket.create_connection(SYSTEM_BROKER, timeout=1).close()
    except OSError:
        return "no MQTT broker listens on 127.0.0.1:1883 (the machine's Mosquitto service)"
    return None


def test_the_machines_own_mosquitto_is_reached_only_through_the_operators_allowance(
    running: RunningServer, tmp_path: Path, settings, engine
) -> None:  # type: ignore[no-untyped-def]
    """The real Mosquitto on this machine's loopback (127.0.0.1:1883, anonymous): saving an endpoint to it
    is refused by the guard before any connection, and deliveries to it are refused on connection — a
    subscriber on that broker sees nothing — until the server's operator names its network in
    VIGIL_OUTBOUND_ALLOWED_NETWORKS; then the check connects and the event arrives."""
    if _system_broker_missing():
        pytest.skip(_system_broker_missing())
    from tests.helpers.receivers import Subscriber

    from vigil import netguard
    from vigil.domain.channels import EndpointSecrets
    from vigil.notify.mqtt import MqttSender, check_broker

    running.ctx.channels.broker_check = check_broker  # as `vigil serve` sets it
    admin = bearer(running.url, "admin")
    for url in ("mqtt://127.0.0.1:1883", "mqtt://localhost:1883", "mqtt://[::ffff:127.0.0.1]:1883"):
        refused = httpx.post(running.url + "/api/notify/endpoints", json={"name": "local", "url": url}, headers=admin)
        assert refused.status_code == 422 and refused.json()["detail"]["rule"] == "outbound-address", refused.text
    assert httpx.get(running.url + "/api/notify/endpoints", headers=admin).json() == []
    results = [e.details["result"] for e in audited(running.ctx, "notify-broker-checked")]
    assert len(results) == 3 and all(r.startswith("guard: ") for r in results)

    topic = f"vigil-trust-{time.monotonic_ns()}"
    subscriber = Subscriber(SYSTEM_BROKER[1], f"{topic}/#")
    body = {"alert": {"category": "wanted", "camera": "gate"}}  # not retained: nothing left on the broker
    try:
        spec = EndpointSecrets("e1", "local", "mqtt", "mqtt://127.0.0.1:1883", "", "", "", topic, 2.0, 1)
        sender = MqttSender(spec)
        try:
            result = sender.send("ev-1", "raised", body)
        finally:
            sender.close()
        assert not result.ok and "outbound guard" in result.error and "loopback" in result.error, result
        time.sleep(0.5)
        assert subscriber.received() == []  # nothing reached the broker through Vigil

        allowed = netguard.parse_networks("127.0.0.1/32")
        sender = MqttSender(dataclasses.replace(spec, allowed=allowed))
        try:
            assert sender.send("ev-2", "raised", body).ok
        finally:
            sender.close()
        deadline = time.monotonic() + 5
        while not subscriber.received() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(t, b) for t, b, _ in subscriber.received()] == [(f"{topic}/alerts/wanted/gate/raised", body)]
    finally:
        subscriber.close()

    # the server's operator allows the broker's network: the check connects and the endpoint is saved
    allowing = start_server(
        tmp_path / "allowing", settings.model_copy(update={"outbound_allowed_networks": "127.0.0.1/32"}), engine
    )
    try:
        allowing.ctx.channels.broker_check = check_broker
        saved = httpx.post(
            allowing.url + "/api/notify/endpoints",
            json={"name": "local", "url": "mqtt://127.0.0.1:1883"},
            headers=bearer(allowing.url, "admin"),
        )
        assert saved.status_code == 201, saved.text
        (checked,) = audited(allowing.ctx, "notify-broker-checked")
        assert checked.details["result"] == "connected"
    finally:
        allowing.ctx.fleet.close()
        allowing.stop()


# ---------------------------------------------------------------- 5. images leave only with two admins
def test_a_rule_that_sends_images_waits_for_a_second_admin_bound_to_what_was_proposed(running: RunningServer) -> None:
    base = running.url
    admin, admin2 = bearer(base, "admin"), bearer(base, "admin2")
    endpoint = {"name": "forensics", "url": "https://forensics.example/hook"}
    assert httpx.post(base + "/api/notify/endpoints", json=endpoint, headers=admin).status_code == 201
    rule = {"name": "faces-out", "endpoint": "forensics", "include_crop": True}
    made = httpx.post(base + "/api/notify/rules", json=rule, headers=admin)
    assert made.status_code == 201 and made.json()["state"] == "proposed", made.text
    shown = made.json()["digest"]
    with running.ctx.db.session() as session:
        assert running.ctx.outbox.routes(session) == []  # proposed: nothing is routed to it

    own = httpx.post(base + "/api/notify/rules/faces-out/approve", json={"digest": shown}, headers=admin)
    assert own.status_code == 403 and own.json()["detail"]["rule"] == "two-admins"
    # changed between proposal and approval: the approval of what was shown is void
    assert httpx.delete(base + "/api/notify/rules/faces-out", headers=admin).status_code == 204
    changed = {**rule, "include_photo": True}
    assert httpx.post(base + "/api/notify/rules", json=changed, headers=admin).json()["state"] == "proposed"
    stale = httpx.post(base + "/api/notify/rules/faces-out/approve", json={"digest": shown}, headers=admin2)
    assert stale.status_code == 409 and stale.json()["detail"]["rule"] == "proposal-changed"
    (listed,) = httpx.get(base + "/api/notify/rules", headers=admin2).json()
    assert listed["state"] == "proposed"
    approved = httpx.post(
        base + "/api/notify/rules/faces-out/approve", json={"digest": listed["digest"]}, headers=admin2
    )
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert approved.json()["approved_by"] == "admin2"
    refusals = [e for e in audited(running.ctx, "access-refused") if e.details["path"].endswith("/approve")]
    assert {e.details["status"] for e in refusals} == {403, 409}
    assert len(audited(running.ctx, "notify-rule-approved")) == 1
    plain = httpx.post(base + "/api/notify/rules", json={"name": "plain", "endpoint": "forensics"}, headers=admin)
    assert plain.json()["state"] == "approved"  # no images: as made


def test_rules_that_carried_images_before_the_upgrade_are_proposed_after_it(database_url: str) -> None:
    """A database at the head before issue 27 (0016) holding an image-carrying rule of each kind and a plain
    one, upgraded to head: the image rules are proposed and route nothing until a second admin approves
    them as shown; the plain rule still routes."""
    from sqlalchemy import text

    from vigil.domain.audit import Actor
    from vigil.domain.channels import ChannelRefused, ChannelService
    from vigil.domain.outbox import Outbox
    from vigil.domain.users import UserService
    from vigil.store.db import Database, create_db_engine, upgrade_schema

    engine = create_db_engine(database_url)
    upgrade_schema(engine, "0016")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO notify_endpoints (id, name, kind, url, key_id, secret, username, topic_prefix, "
                "timeout_s, concurrency, retry_for_s, active, created_by, created_at) VALUES ('e1', 'forensics', "
                "'webhook', 'https://forensics.example/hook', 'k1', 's', '', 'vigil', 5, 4, 86400, :yes, 'admin', "
                "'2026-01-01 00:00:00.000000')"
            ),
            {"yes": True},
        )
        for rule_id, name, crop, photo in (("r1", "crops", True, False), ("r2", "photos", False, True),
                                           ("r3", "both", True, True), ("r4", "plain", False, False)):  # fmt: skip
            connection.execute(
                text(
                    "INSERT INTO notify_rules (id, name, endpoint_id, event_kinds, categories, camera_groups, "
                    "include_crop, include_photo, active, created_by, created_at) VALUES (:id, :name, 'e1', '[]', "
                    "'[]', '[]', :crop, :photo, :yes, 'admin', '2026-01-01 00:00:00.000000')"
                ),
                {"id": rule_id, "name": name, "crop": crop, "photo": photo, "yes": True},
            )
    upgrade_schema(engine)
    db = Database(engine)
    channels = ChannelService(db)
    states = {r.name: (r.state, r.approved_by) for r in channels.rules()}
    assert states == {
        "crops": ("proposed", ""),
        "photos": ("proposed", ""),
        "both": ("proposed", ""),
        "plain": ("approved", ""),
    }
    with db.session() as session:
        assert {r.rule_id for r in Outbox.routes(session)} == {"r4"}  # the image rules deliver nothing
    users = UserService(db)
    users.add("admin", "correct horse battery", "admin")
    users.add("admin2", "correct horse battery", "admin")
    crops = next(r for r in channels.rules() if r.name == "crops")
    with pytest.raises(ChannelRefused, match="two-admins"):  # its maker cannot approve it
        channels.approve_rule("crops", digest=crops.digest, by=Actor("admin"))
    assert channels.approve_rule("crops", digest=crops.digest, by=Actor("admin2")).state == "approved"
    with db.session() as session:
        assert {r.rule_id for r in Outbox.routes(session)} == {"r1", "r4"}
    engine.dispose()


def test_the_cli_keeps_a_scriptable_two_admin_path_for_rules_that_send_images(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """`vigil notify rule add --proposed-by/--approved-by` and `rule approve --digest`, as a script would run
    them on the server: the same two-admin rule as the control room, each refusal one error line with
    nothing stored, every step on the record as the command line's."""
    import json

    from typer.testing import CliRunner

    from vigil.cli.main import app

    runner = CliRunner()
    base = ["--data-dir", str(tmp_path / "data"), "--models-dir", str(settings.resolved_models_dir)]

    def vigil(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*base, *args], env={"PW": PASSWORD})
        said = result.output + result.stderr + ("" if result.exception is None else str(result.exception))
        return result.exit_code, said  # `vigil` prints a refusal's exception as its one error line

    for name in ("admin", "admin2", "supervisor"):
        assert vigil("users", "add", name, "--role", "supervisor" if name == "supervisor" else "admin",
                     "--password-env", "PW")[0] == 0  # fmt: skip
    assert vigil("notify", "endpoint", "add", "forensics", "https://forensics.example/hook")[0] == 0

    def rules() -> dict[str, dict]:  # type: ignore[type-arg]
        code, out = vigil("notify", "rule", "list", "--json")
        assert code == 0, out
        return {r["name"]: r for r in map(json.loads, out.splitlines())}

    add = ("notify", "rule", "add", "faces", "--endpoint", "forensics", "--include-crop")
    for extra, said in (
        (("--proposed-by", "admin", "--approved-by", "admin"), "two-admins"),
        (("--approved-by", "admin2"), "--proposed-by"),
        (("--proposed-by", "admin", "--approved-by", "supervisor"), "not an active admin"),
        (("--proposed-by", "admin", "--approved-by", "nobody"), "nobody"),
    ):
        code, out = vigil(*add, *extra)
        assert code != 0 and said in out, (extra, out)
        assert rules() == {}  # nothing stored
    code, out = vigil(*add, "--proposed-by", "admin", "--approved-by", "admin2")
    assert code == 0 and "approved" in out, out
    assert (rules()["faces"]["state"], rules()["faces"]["approved_by"]) == ("approved", "admin2")

    code, out = vigil("notify", "rule", "add", "photos", "--endpoint", "forensics", "--include-photo",
                      "--proposed-by", "admin")  # fmt: skip
    assert code == 0 and "proposed" in out, out
    proposed = rules()["photos"]
    assert proposed["state"] == "proposed" and proposed["digest"]
    approve = ("notify", "rule", "approve", "photos")
    code, out = vigil(*approve, "--approved-by", "admin", "--digest", proposed["digest"])
    assert code != 0 and "two-admins" in out
    code, out = vigil(*approve, "--approved-by", "admin2", "--digest", "0" * 64)
    assert code != 0 and "proposal-changed" in out
    assert rules()["photos"]["state"] == "proposed"
    code, out = vigil(*approve, "--approved-by", "admin2", "--digest", proposed["digest"])
    assert code == 0, out
    assert (rules()["photos"]["state"], rules()["photos"]["approved_by"]) == ("approved", "admin2")

    from vigil.domain.audit import AuditLog
    from vigil.store.db import open_database

    stored = settings.model_copy(update={"data_dir": tmp_path / "data"})
    log = AuditLog(open_database(stored), key_file=stored.resolved_audit_key_file)
    added, approved = log.entries(action="notify-rule-added"), log.entries(action="notify-rule-approved")
    assert {(e.actor, e.source) for e in added} == {("admin", "cli")} and len(added) == 2
    assert [(e.actor, e.source, e.object_id) for e in approved] == [("admin2", "cli", "photos")]


# ---------------------------------------------------------------- 7. no authoriser alone starts scanning
def test_a_supervisor_requests_and_a_different_authoriser_signs_what_was_requested(running: RunningServer) -> None:
    from datetime import UTC, datetime, timedelta

    running.ctx.cameras.add("north-gate", "rtsp://192.0.2.20/s", latitude=26.85, longitude=80.95, group="Hazratganj")
    base = running.url
    authoriser, supervisor = bearer(base, "authoriser"), bearer(base, "supervisor")
    now = datetime.now(UTC)
    body = {
        "cameras": ["north-gate"],
        "categories": ["missing-person"],
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=4)).isoformat(),
        "purpose": "Diwali crowds",
    }
    alone = httpx.post(base + "/api/authorisations", json={**body, "requested_by": "supervisor"}, headers=authoriser)
    assert alone.status_code == 403  # an authoriser does not request (nor name a requester)
    named = httpx.post(base + "/api/authorisations", json={**body, "requested_by": "supervisor2"}, headers=supervisor)
    assert named.status_code == 422  # the requester is the logged-in supervisor, never named
    for change, rule in (
        ({"starts_at": (now - timedelta(hours=1)).isoformat()}, "authorisation-period"),
        ({"cameras": ["no-such-camera"]}, "authorisation-cameras"),
        ({"cameras": [], "camera_groups": ["Atlantis"]}, "authorisation-cameras"),
        ({"categories": ["litterers"]}, "authorisation-scope"),
        ({"categories": [], "subjects": ["0" * 32]}, "authorisation-scope"),
    ):
        refused = httpx.post(base + "/api/authorisations", json={**body, **change}, headers=supervisor)
        assert refused.status_code == 422 and refused.json()["detail"]["rule"] == rule, (change, refused.text)
    assert httpx.get(base + "/api/authorisations", headers=authoriser).json() == []  # nothing was saved

    asked = httpx.post(base + "/api/authorisations", json=body, headers=supervisor)
    assert asked.status_code == 201 and asked.json()["state"] == "requested", asked.text
    assert asked.json()["requested_by"] == "supervisor" and not asked.json()["authorised_by"]
    request_id, digest = asked.json()["id"], asked.json()["digest"]
    sign = f"{base}/api/authorisations/{request_id}/sign"
    assert httpx.post(sign, json={"digest": digest}, headers=supervisor).status_code == 403  # not the requester
    stale = httpx.post(sign, json={"digest": "f" * 64}, headers=authoriser)
    assert stale.status_code == 409 and stale.json()["detail"]["rule"] == "authorisation-changed"
    signed = httpx.post(sign, json={"digest": digest}, headers=bearer(base, "authoriser2"))
    assert signed.status_code == 200 and signed.json()["state"] == "active", signed.text
    assert signed.json()["authorised_by"] == "authoriser2" and signed.json()["requested_by"] == "supervisor"
    again = httpx.post(sign, json={"digest": digest}, headers=authoriser)
    assert again.status_code == 404  # signed once
    assert [e.action for e in running.ctx.audit.entries(limit=200) if e.object_type == "authorisation"] == [
        "authorisation-added",
        "authorisation-requested",
    ]
    refusals = [e for e in audited(running.ctx, "access-refused") if "/api/authorisations" in e.details["path"]]
    assert len(refusals) >= 7  # each refusal on the record


# ---------------------------------------------------------------- Low: grants bind to what was proposed
def test_a_role_grant_changed_before_approval_is_not_approved(running: RunningServer) -> None:
    base = running.url
    admin, admin2 = bearer(base, "admin"), bearer(base, "admin2")
    assert httpx.post(base + "/api/users/operator/role", json={"role": "auditor"}, headers=admin).status_code == 200
    # the proposer swaps in another role while the approver reads the first
    assert httpx.post(base + "/api/users/operator/role", json={"role": "admin"}, headers=admin).status_code == 200
    swapped = httpx.post(base + "/api/users/operator/approve", json={"role": "auditor"}, headers=admin2)
    assert swapped.status_code == 409 and swapped.json()["detail"]["rule"] == "grant-changed"
    assert running.ctx.users.summary("operator").role == "operator"  # nothing changed
    approved = httpx.post(base + "/api/users/operator/approve", json={"role": "admin"}, headers=admin2)
    assert approved.status_code == 200 and approved.json()["role"] == "admin"


# ---------------------------------------------------------------- 3. cameras: every connection through the guard
def own_address() -> str | None:
    """This machine's address on its network (not loopback): where a camera on a private network sits."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # nothing is sent: only the route is looked up
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback else address


def _needs_own_address() -> str:
    address = own_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback to stand for a camera's private network")
    return address


def _camera_frames() -> list[np.ndarray]:
    return [np.full((96, 128, 3), 40 * i % 255, np.uint8) for i in range(4)]


CAMERA_NAME = "cam.rebind.example"  # .example names never resolve through the system: only the test's resolver


def test_a_camera_is_connected_to_the_address_the_guard_checked_so_dns_rebinding_cannot_pass(
    running: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An admin adds a camera by name while it resolves to a private address (allowed: cameras live
    there); the name later answers with the server's own loopback, link-local or unspecified address. On
    each connection the name is resolved and checked again and FFmpeg is given the checked address, so
    the camera server — listening on every interface, loopback included — is reached only while the name
    points somewhere allowed."""
    from vigil import netguard

    own = _needs_own_address()
    answers = {CAMERA_NAME: [own]}
    monkeypatch.setattr(netguard, "resolve", lambda host: answers.get(host, []))
    running.ctx.settings = running.ctx.settings.model_copy(update={"web_cameras_local": False})  # as deployed
    camera = MjpegServer(_camera_frames(), bind="0.0.0.0").start()  # loopback too: what a rebound name would reach
    base, admin = running.url, bearer(running.url, "admin")
    try:
        url = f"http://{CAMERA_NAME}:{camera.port}/video.mjpg"
        body = {"name": "gate", "url": url, "latitude": 26.8, "longitude": 80.9}
        added = httpx.post(base + "/api/cameras", json=body, headers=admin)
        assert added.status_code == 201, added.text
        shown = httpx.get(base + "/api/cameras/gate/frame", headers=admin, timeout=60)
        assert shown.status_code == 200 and shown.content[:2] == b"\xff\xd8", shown.text
        assert camera.hosts == [f"{CAMERA_NAME}:{camera.port}"]  # to the checked address, the name in Host
        for rebound, why in (("127.0.0.1", "loopback"), ("169.254.169.254", "link-local"), ("0.0.0.0", "unspecified")):
            answers[CAMERA_NAME] = [rebound]
            refused = httpx.get(base + "/api/cameras/gate/frame", headers=admin, timeout=60)
            assert refused.status_code == 422, refused.text
            detail = refused.json()["detail"]
            assert detail["rule"] == "outbound-address" and why in detail["message"], detail
        answers[CAMERA_NAME] = [own, "127.0.0.1"]  # one allowed, one refused: refused (a connection could take either)
        assert httpx.get(base + "/api/cameras/gate/frame", headers=admin, timeout=60).status_code == 422
        assert len(camera.hosts) == 1  # nothing reached the camera server on the loopback
        refusals = audited(running.ctx, "outbound-refused")
        assert len(refusals) == 4 and {(e.actor, e.object_type, e.object_id) for e in refusals} == {
            ("admin", "camera", "gate")
        }
        # the server's own address written in the URL: refused when saved, and audited
        inside = {**body, "name": "inside", "url": f"http://127.0.0.1:{camera.port}/video.mjpg"}
        local = httpx.post(base + "/api/cameras", json=inside, headers=admin)
        assert local.status_code == 422 and "camera-local" in local.text
        assert audited(running.ctx, "outbound-refused")[0].object_id == "inside"
    finally:
        camera.stop()


def test_a_camera_that_answers_with_a_redirect_is_not_followed_onto_the_servers_own_network(
    running: RunningServer,
) -> None:
    own = _needs_own_address()
    inside = MjpegServer(_camera_frames()).start()  # a service on the server's loopback

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", inside.url)
            self.end_headers()

    lure = ThreadingHTTPServer((own, 0), Redirect)
    threading.Thread(target=lure.serve_forever, daemon=True).start()
    base, admin = running.url, bearer(running.url, "admin")
    try:
        body = {"name": "lure", "url": f"http://{own}:{lure.server_address[1]}/x", "latitude": 26.8, "longitude": 80.9}
        assert httpx.post(base + "/api/cameras", json=body, headers=admin).status_code == 201
        shown = httpx.get(base + "/api/cameras/lure/frame", headers=admin, timeout=60)
        assert shown.status_code == 502, shown.text
        assert inside.requests == 0  # the redirect was not followed
    finally:
        lure.shutdown()
        lure.server_close()
        inside.stop()


def test_every_reconnection_of_a_live_camera_is_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live pipeline's camera reader: while the name points at the loopback every attempt is refused
    (and retried with backoff, the reason in the camera's state); once it points at an allowed address
    the camera streams from the checked address."""
    from vigil import netguard
    from vigil.video.camera import CameraState, CameraStream
    from vigil.video.sources import parse_source

    own = _needs_own_address()
    answers = {CAMERA_NAME: ["127.0.0.1"]}
    monkeypatch.setattr(netguard, "resolve", lambda host: answers.get(host, []))
    camera = MjpegServer(_camera_frames(), fps=25, bind="0.0.0.0").start()
    spec = parse_source(f"http://{CAMERA_NAME}:{camera.port}/video.mjpg")
    stream = CameraStream("gate", spec, analysis_fps=5, backoff_base_s=0.05, backoff_cap_s=0.2)
    try:
        stream.start()
        deadline = time.monotonic() + 15
        while stream.reconnects < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stream.reconnects >= 3 and camera.requests == 0
        assert any("outbound guard" in s.detail and "loopback" in s.detail for s in stream.history)
        answers[CAMERA_NAME] = [own]
        while stream.state != CameraState.STREAMING and time.monotonic() < deadline + 15:
            time.sleep(0.05)
        assert stream.state == CameraState.STREAMING
        assert camera.hosts and set(camera.hosts) == {f"{CAMERA_NAME}:{camera.port}"}
    finally:
        stream.stop()
        stream.join(10)
        camera.stop()


def test_an_rtsp_camera_by_name_streams_from_the_checked_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real RTSP server (gst-rtsp-server) on this machine's private address, reached by a name only the
    guard's resolver knows: FFmpeg is given the checked address (with the credentials and path) and the
    whole RTSP exchange — DESCRIBE, SETUP, PLAY — runs against it."""
    from tests.helpers.streaming import RtspServer, rtsp_server_missing, write_clip

    from vigil import netguard
    from vigil.video.camera import CameraState, CameraStream
    from vigil.video.sources import parse_source

    if rtsp_server_missing():
        pytest.skip(str(rtsp_server_missing()))
    own = _needs_own_address()
    monkeypatch.setattr(netguard, "resolve", lambda host: [own] if host == CAMERA_NAME else [])
    clip = write_clip(_camera_frames() * 10, tmp_path / "clip.mp4", fps=10, repeat=20)
    server = RtspServer(clip, bind=own).start()
    stream = CameraStream("gate", parse_source(f"rtsp://viewer:pw@{CAMERA_NAME}:{server.port}/live"), analysis_fps=5)
    try:
        stream.start()
        deadline = time.monotonic() + 20
        while stream.slot.get(0.1) is None and time.monotonic() < deadline:
            pass
        assert stream.state == CameraState.STREAMING, list(stream.history)[-3:]
    finally:
        stream.stop()
        stream.join(10)
        server.kill()


@pytest.mark.parametrize(
    ("url", "expected", "host"),
    [
        ("rtsp://viewer:s3cret@cam.example:8554/live?x=1", "rtsp://viewer:s3cret@10.1.2.3:8554/live?x=1", None),
        ("http://cam.example/video.mjpg", "http://10.1.2.3/video.mjpg", "Host: cam.example\r\n"),
        ("rtsp://[fd00::7]:554/s", "rtsp://[fd00::7]:554/s", None),  # an address in the URL stays
    ],
)
def test_the_url_ffmpeg_gets_names_the_checked_address(url: str, expected: str, host: str | None) -> None:
    from vigil.video.sources import guarded_targets, parse_source

    ((given, options),) = guarded_targets(parse_source(url), resolver=lambda name: ["10.1.2.3"])
    assert given == expected and options.get("headers") == host
    assert options.get("max_redirects") == ("0" if url.startswith("http") else None)


# ---------------------------------------------------------------- docs/security.md stays true
def test_every_control_in_the_security_table_names_a_test_that_exists() -> None:
    """Each row of docs/security.md's control table names at least one test, and each named test is a test
    function in the file it names (a renamed or deleted test breaks this, not the reader's trust)."""
    import ast
    import re

    repo = Path(__file__).resolve().parents[1]
    table = (repo / "docs" / "security.md").read_text().split("## Controls and the tests that prove them", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| control")]
    assert len(rows) >= 25
    defined: dict[str, set[str]] = {}
    for row in rows:
        named = re.findall(r"`(test_\w+)::(test_\w+)`", row)
        assert named, row
        for module, test in named:
            if module not in defined:
                tree = ast.parse((repo / "tests" / f"{module}.py").read_text())
                defined[module] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert test in defined[module], f"{module}::{test} named in docs/security.md does not exist"
