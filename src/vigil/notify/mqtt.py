"""MQTT deliveries (paho-mqtt, MQTT 3.1.1) to the broker in an endpoint's settings.

Topic layout under the endpoint's ``topic_prefix`` (``vigil`` by default)::

    {prefix}/alerts/{category}/{camera}/{kind}   an alert's event, QoS 1, not retained
    {prefix}/cameras/{camera}/state              a camera's state, QoS 1, retained

A delivery counts as done only when the broker's PUBACK has come back (QoS 1). The client keeps one
connection per endpoint and reconnects by itself after a broker restart; a publish while it is down
fails at once and is retried by the dispatcher under the same event id.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho

from vigil.domain.channels import ChannelError, EndpointSecrets, EndpointSpec
from vigil.domain.vocabulary import EventKind
from vigil.netguard import Networks, OutboundRefused, Target, checked_addresses, connect
from vigil.notify.webhook import SendResult

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool


def broker_of(url: str) -> Broker:
    parts = urlsplit(url)
    return Broker(parts.hostname or "", parts.port or DEFAULT_PORTS[parts.scheme], parts.scheme == "mqtts")


def _level(text: str) -> str:
    """One topic level: no separators or wildcards in it."""
    return "".join("_" if c in "/+#" else c for c in text) or "_"


def topic_for(prefix: str, kind: str, body: dict[str, Any]) -> tuple[str, bool]:
    """(topic, retained) of an event body."""
    if kind == EventKind.CAMERA_STATE:
        return f"{prefix}/cameras/{_level(body['camera']['name'])}/state", True
    alert = body["alert"]
    return f"{prefix}/alerts/{_level(alert['category'])}/{_level(alert['camera'])}/{_level(kind)}", False


class GuardedClient(paho.Client):
    """A paho client whose every connection (the first and each reconnect) passes the outbound guard: the
    broker's name is resolved and checked, the socket goes to the checked address, TLS checks the name."""

    def __init__(self, allowed: Networks, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allowed = allowed
        self.guard_refusal = ""

    def _create_socket_connection(self) -> socket.socket:
        source = (self._bind_address, self._bind_port)
        try:
            return connect(
                self._host,
                self._port,
                Target.BROKER,
                self.allowed,
                timeout=self._connect_timeout,
                source_address=source,
            )
        except OutboundRefused as exc:  # to paho's loop, a connection that failed (it retries, sends nothing)
            self.guard_refusal = exc.detail
            raise ConnectionRefusedError(f"outbound guard: {exc.detail}") from None


def _client(client_id: str, username: str, password: str, tls: bool, allowed: Networks = ()) -> paho.Client:
    client = GuardedClient(
        allowed,
        callback_api_version=paho.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv311,
    )
    if username:
        client.username_pw_set(username, password or None)
    if tls:
        client.tls_set()
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    return client


def check_broker(spec: EndpointSpec, allowed: Networks = (), *, timeout_s: float = 5.0) -> None:
    """Connect once with the endpoint's credentials, through the outbound guard; a ChannelError names what
    the broker refused (OutboundRefused: the guard refused the address, nothing was connected to)."""
    broker = broker_of(spec.url)
    checked_addresses(broker.host, Target.BROKER, allowed)  # refused: OutboundRefused, nothing connected
    client = _client(f"vigil-check-{uuid.uuid4().hex[:8]}", spec.username, spec.secret, broker.tls, allowed)
    answered = threading.Event()
    outcome: list[Any] = []

    def on_connect(_c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        outcome.append(reason)
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port, keepalive=10)
    except OSError as exc:
        raise ChannelError("url", f"the broker at {broker.host}:{broker.port} is not reachable: {exc}") from None
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            raise ChannelError(
                "url", f"the broker at {broker.host}:{broker.port} did not answer within {timeout_s:g} s"
            )
        reason = outcome[0]
        if reason.is_failure:
            field = "secret" if "password" in str(reason).lower() else "username"
            raise ChannelError(field, f"the broker refused the connection: {reason}")
    finally:
        client.disconnect()
        client.loop_stop()


class MqttSender:
    def __init__(self, endpoint: EndpointSecrets, *, client_id: str | None = None) -> None:
        self.endpoint = endpoint
        self.broker = broker_of(endpoint.url)
        self._client = _client(
            client_id or f"vigil-{endpoint.name}-{uuid.uuid4().hex[:8]}",
            endpoint.username,
            endpoint.secret,
            self.broker.tls,
            endpoint.allowed,
        )
        self._connected = threading.Event()
        self.last_refusal = ""
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=15)
        self._client.loop_start()

    def _on_connect(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.last_refusal = str(reason)
            self._connected.clear()
        else:
            self.last_refusal = ""
            self._connected.set()

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        self._connected.clear()

    def send(self, event_id: str, kind: str, body: dict[str, Any]) -> SendResult:
        if not self._connected.wait(min(2.0, self.endpoint.timeout_s)):
            guard = getattr(self._client, "guard_refusal", "")
            why = (
                f"refused: {self.last_refusal}"
                if self.last_refusal
                else f"not connected: the outbound guard refused it ({guard})"
                if guard
                else "not connected"
            )
            return SendResult(False, None, f"broker {self.broker.host}:{self.broker.port} {why}")
        topic, retain = topic_for(self.endpoint.topic_prefix, kind, body)
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return SendResult(False, None, f"publish failed: {paho.error_string(info.rc)}")
        try:
            info.wait_for_publish(self.endpoint.timeout_s)
        except (RuntimeError, ValueError) as exc:
            return SendResult(False, None, f"publish failed: {exc}")
        if not info.is_published():
            return SendResult(False, None, f"no PUBACK within {self.endpoint.timeout_s:g} s")
        return SendResult(True)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
