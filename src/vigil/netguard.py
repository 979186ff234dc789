"""One address guard for every connection Vigil makes outwards: cameras, webhooks and MQTT brokers.

A target is checked when it is saved *and* on every connection: its name is resolved, every address it
resolves to is checked, and the connection goes to a checked address (so a name that later resolves
somewhere else — DNS rebinding — cannot pass). The rules:

* loopback (127/8, ::1), link-local (169.254/16 — the cloud metadata address —, fe80::/10) and
  unspecified (0.0.0.0, ::) addresses are refused for every target;
* private and other non-global ranges (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10 …) are where
  cameras live and stay allowed for them; for webhooks and MQTT brokers they are refused;
* ``VIGIL_OUTBOUND_ALLOWED_NETWORKS`` (CIDRs, set by the server's operator) lets the named networks
  through for webhooks and brokers — the unspecified address never.

Pure apart from :func:`resolve` (the system's resolver); callers pass their own in tests.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from enum import StrEnum

from vigil.errors import RuleError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
Resolver = Callable[[str], list[str]]
RULE = "outbound-address"


class Target(StrEnum):
    """What is being connected to: cameras may sit in private ranges, the others may not."""

    CAMERA = "camera"
    WEBHOOK = "webhook"
    BROKER = "broker"


class OutboundRefused(RuleError):
    """A target whose address the guard refuses (rule ``outbound-address``); nothing was connected to."""

    def __init__(self, message: str) -> None:
        super().__init__(RULE, message)


def parse_networks(text: str) -> Networks:
    """Comma-separated CIDRs (or single addresses); ValueError names a bad one."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError as exc:
                raise ValueError(f"{part!r} is not an address or a network: {exc}") from None
    return tuple(networks)


def _plain(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def refusal(address: Address, target: Target, allowed: Networks = ()) -> str | None:
    """Why ``address`` may not be connected to for ``target`` (None: it may). Pure."""
    address = _plain(address)
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if target != Target.CAMERA and any(address in network for network in allowed):
        return None
    if address.is_loopback:
        return f"{address} is this server's own loopback address"
    if address.is_link_local:
        return f"{address} is a link-local address (the cloud metadata service lives there)"
    if target != Target.CAMERA and not address.is_global:
        return (
            f"{address} is a private or reserved address; the server's operator can allow its network "
            "with VIGIL_OUTBOUND_ALLOWED_NETWORKS"
        )
    if address.is_multicast or address.is_reserved:
        return f"{address} is a multicast or reserved address"
    return None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to here (an address is itself); empty when it does not resolve."""
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
        return [bare.split("%", 1)[0]]
    except ValueError:
        pass
    try:
        return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in socket.getaddrinfo(bare, None)))
    except OSError:
        return []


def checked_addresses(
    host: str,
    target: Target,
    allowed: Networks = (),
    *,
    resolver: Resolver | None = None,
    unresolved_ok: bool = False,
) -> list[Address]:
    """The addresses ``host`` resolves to, every one of which the guard allows; OutboundRefused when any
    is refused (a name answering with one good and one bad address is refused: a connection could take
    either) or when it resolves to nothing (unless ``unresolved_ok``)."""
    name = host.strip("[]").rstrip(".").lower()
    local = name == "localhost" or name.endswith(".localhost")
    if local:
        texts = ["127.0.0.1"]
    elif _is_address(name):
        texts = [name.split("%", 1)[0]]  # an address is itself, whatever the resolver
    else:
        texts = (resolver or resolve)(name)
    if not texts:
        if unresolved_ok:
            return []
        raise OutboundRefused(f"{host} does not resolve to any address")
    addresses: list[Address] = []
    for text in texts:
        address = ipaddress.ip_address(text)
        why = refusal(address, target, allowed)
        if why is not None:
            raise OutboundRefused(f"{host}: {why}; refused for a {target}")
        addresses.append(_plain(address))
    return addresses


def first_checked(host: str, target: Target, allowed: Networks = (), *, resolver: Resolver | None = None) -> str:
    """The address to connect to for ``host`` (resolved and checked now)."""
    return str(checked_addresses(host, target, allowed, resolver=resolver)[0])


def connect(
    host: str,
    port: int,
    target: Target,
    allowed: Networks = (),
    *,
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
    resolver: Resolver | None = None,
) -> socket.socket:
    """A TCP connection to ``host``:``port`` made to an address the guard has just checked (never a second
    lookup by the socket library)."""
    errors: list[OSError] = []
    for address in checked_addresses(host, target, allowed, resolver=resolver):
        try:
            return socket.create_connection((str(address), port), timeout, source_address=source_address)
        except OSError as exc:
            errors.append(exc)
    raise errors[-1] if errors else OSError(f"could not connect to {host}:{port}")
