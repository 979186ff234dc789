"""Logins an attacker cannot turn against others (issue 14, item 15): lockout per account *and* client
address, a ceiling per account for distributed guessing, the same work for every failed answer, and
client addresses taken from X-Forwarded-For only when a trusted proxy sent it."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.domain import users as users_module
from vigil.domain.users import ACCOUNT_CEILING, MAX_FAILURES, LoginFailed, LoginThrottled, UserService
from vigil.settings import VigilSettings
from vigil.store.db import open_database
from vigil.web.security import forwarded_client

PASSWORD = "correct horse battery"


@pytest.fixture
def users(tmp_path: Path) -> UserService:
    service = UserService(open_database(VigilSettings(data_dir=tmp_path)))
    service.add("operator", PASSWORD, "operator")
    service.add("idle", PASSWORD, "operator")
    service.set_active("idle", False)
    return service


def _fail(users: UserService, username: str, source: str, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(LoginFailed):
            users.authenticate(username, "wrong password!", source=source)


def test_a_lockout_shuts_out_the_guessing_address_not_the_officer(users: UserService) -> None:
    _fail(users, "operator", "203.0.113.9", MAX_FAILURES)
    with pytest.raises(LoginFailed):  # the right password from the attacker's address: locked
        users.authenticate("operator", PASSWORD, source="203.0.113.9")
    assert users.authenticate("operator", PASSWORD, source="10.1.2.3").username == "operator"  # the officer


def test_a_distributed_guess_makes_the_guessing_addresses_wait_not_the_officer(users: UserService) -> None:
    addresses = ACCOUNT_CEILING // (MAX_FAILURES - 1)
    for i in range(addresses):  # each address stays under its own limit
        _fail(users, "operator", f"198.51.100.{i}", MAX_FAILURES - 1)
    for i in range(ACCOUNT_CEILING - addresses * (MAX_FAILURES - 1)):  # up to the ceiling, one guess each
        _fail(users, "operator", f"203.0.113.{i}")
    with pytest.raises(LoginThrottled) as waited:  # an address that failed: waits, even with the right password
        users.authenticate("operator", PASSWORD, source="198.51.100.1")
    assert waited.value.rule == "account-under-attack" and waited.value.retry_after_s >= 1
    assert users.authenticate("operator", PASSWORD, source="10.1.2.3").username == "operator"  # a clean address


def test_every_failed_answer_costs_one_password_check(users: UserService, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Unknown, inactive, locked and wrong: the same argon2 work each, so timing tells nothing."""
    _fail(users, "operator", "203.0.113.9", MAX_FAILURES)
    checks: list[str] = []

    class Counting:  # the real hasher, with its checks counted
        def __init__(self, real: object) -> None:
            self.real = real

        def verify(self, hash_: str, password: str) -> bool:
            checks.append(hash_)
            return self.real.verify(hash_, password)  # type: ignore[attr-defined,no-any-return]

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

    monkeypatch.setattr(users_module, "_hasher", Counting(users_module._hasher))
    cases = {
        "unknown": ("nobody", PASSWORD, "10.0.0.1"),
        "inactive": ("idle", PASSWORD, "10.0.0.1"),
        "locked": ("operator", PASSWORD, "203.0.113.9"),
        "wrong": ("operator", "wrong password!", "10.0.0.1"),
    }
    for case, (username, password, source) in cases.items():
        before = len(checks)
        with pytest.raises(LoginFailed, match="wrong username or password, or the account is locked"):
            users.authenticate(username, password, source=source)
        assert len(checks) == before + 1, case


def test_forwarded_for_counts_only_from_a_trusted_proxy() -> None:
    from ipaddress import ip_network

    proxies = (ip_network("10.0.0.0/24"), ip_network("127.0.0.1/32"))
    assert forwarded_client("127.0.0.1", "6.6.6.6", ()) == "127.0.0.1"  # no proxy trusted: the peer
    assert forwarded_client("192.0.2.50", "6.6.6.6", proxies) == "192.0.2.50"  # not a proxy: ignored
    assert forwarded_client("10.0.0.5", "198.51.100.7", proxies) == "198.51.100.7"
    # the client wrote its own header (left); each proxy appended what it saw (right)
    assert forwarded_client("10.0.0.5", "6.6.6.6, 198.51.100.7, 10.0.0.4", proxies) == "198.51.100.7"
    assert forwarded_client("10.0.0.5", "not-an-address", proxies) == "10.0.0.5"


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_a_real_server_believes_forwarded_addresses_only_from_trusted_proxies(  # type: ignore[no-untyped-def]
    tmp_path: Path, settings, engine, trusted: str
) -> None:
    """Served by uvicorn as `vigil serve` serves: uvicorn's own proxy headers used to let anyone on
    loopback write the address the audit log and the throttle see."""
    import httpx
    from tests.helpers.webserver import start_server

    running = start_server(tmp_path, settings.model_copy(update={"trusted_proxies": trusted}), engine)
    try:
        headers = {"X-Forwarded-For": "198.51.100.77", "X-Forwarded-Proto": "https"}
        response = httpx.post(
            running.url + "/api/auth/login", json={"username": "operator", "password": "wrong"}, headers=headers
        )
        assert response.status_code == 401
        (entry,) = running.ctx.audit.entries(limit=1, action="login-failed")
        assert entry.source == ("198.51.100.77" if trusted else "127.0.0.1")
        hsts = "strict-transport-security" in httpx.get(running.url + "/login", headers=headers).headers
        assert hsts is bool(trusted)  # the proxy terminated TLS: HSTS; a forged header: none
    finally:
        running.ctx.fleet.close()
        running.stop()
