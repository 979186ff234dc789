"""Webhook deliveries: an HTTP(S) POST of the event's JSON, signed (``vigil.notify.signing``), with the
event id as its idempotency key, under the endpoint's timeout. Any 2xx is delivered; anything else —
a refusal, a 5xx, a timeout, no route — is a failure the dispatcher retries (honouring Retry-After)."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from vigil.domain.channels import EndpointSecrets
from vigil.netguard import Networks, OutboundRefused, Target, first_checked
from vigil.notify.signing import signed_headers


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status: int | None = None
    error: str = ""
    retry_after_s: float | None = None  # what the receiver asked for, if anything


def encode(body: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed (compact, UTF-8)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, min(float(value), 3600.0))
    except ValueError:
        return None


class GuardedBackend(httpcore.SyncBackend):
    """Every connection through the outbound guard: the host is resolved and checked here, and the socket
    goes to the checked address (TLS still checks the certificate against the URL's host name)."""

    def __init__(self, target: Target, allowed: Networks) -> None:
        self.target = target
        self.allowed = allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        address = first_checked(host, self.target, self.allowed)
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


def guarded_transport(allowed: Networks, *, connections: int) -> httpx.HTTPTransport:
    """An HTTP transport whose every connection passes the outbound guard; no proxy from the environment
    (a proxy would make the connection for us, unchecked)."""
    transport = httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections), trust_env=False
    )
    pool = transport._pool
    assert isinstance(pool, httpcore.ConnectionPool)
    pool._network_backend = GuardedBackend(Target.WEBHOOK, allowed)
    return transport


class WebhookSender:
    def __init__(self, endpoint: EndpointSecrets) -> None:
        self.endpoint = endpoint
        self._client = httpx.Client(
            timeout=endpoint.timeout_s,
            follow_redirects=False,  # a redirect could carry the body elsewhere
            transport=guarded_transport(endpoint.allowed, connections=endpoint.concurrency),
            trust_env=False,
            headers={"User-Agent": "Vigil-Webhook/1"},
        )

    def send(self, event_id: str, kind: str, body: dict[str, Any]) -> SendResult:
        data = encode(body)
        headers = signed_headers(self.endpoint.secret, self.endpoint.key_id, event_id, data)
        headers["Content-Type"] = "application/json"
        headers["Vigil-Event-Kind"] = kind
        try:
            response = self._client.post(self.endpoint.url, content=data, headers=headers)
        except OutboundRefused as exc:
            return SendResult(False, None, f"refused by the outbound guard: {exc.detail}"[:300])
        except httpx.TimeoutException:
            return SendResult(False, None, f"no answer within {self.endpoint.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return SendResult(False, None, f"{type(exc).__name__}: {exc}"[:300])
        if 200 <= response.status_code < 300:
            return SendResult(True, response.status_code)
        return SendResult(
            False,
            response.status_code,
            f"HTTP {response.status_code}",
            _retry_after(response.headers.get("retry-after")),
        )

    def close(self) -> None:
        self._client.close()
