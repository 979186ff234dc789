"""Issue 28, the audit page's API: entries filtered by who, action, object and time, paged past the newest
(``before`` the last id shown), and the chain verified from the control room against the last anchored
head (the check itself audited). Real SQLite, real HTTP through the app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from tests.helpers import live_service, live_settings
from tests.test_web import PASSWORD, ROLES, session

from vigil.domain.audit_anchor import make_anchor, publish
from vigil.web.app import create_app
from vigil.web.context import WebContext


def _context(tmp_path: Path, settings, engine, **changes: object) -> WebContext:  # type: ignore[no-untyped-def]
    run_settings = live_settings(tmp_path, settings).model_copy(update=changes)
    watchlist = live_service(run_settings, engine)
    context = WebContext.build(run_settings, watchlist.db)
    context.watchlist = watchlist
    for role in ROLES:
        context.users.add(role, PASSWORD, role, display_name=role.title())
    return context


def test_audit_entries_filter_by_who_action_object_and_time_and_page_past_the_newest(  # type: ignore[no-untyped-def]
    tmp_path: Path, settings, engine
) -> None:
    ctx = _context(tmp_path, settings, engine)
    for i in range(30):
        ctx.audit.record("op.a" if i % 3 else "op.b", "alert-viewed", object_type="alert", object_id=f"a{i}")
    ctx.audit.record("admin.x", "camera-removed", object_type="camera", object_id="gate")
    with ctx.db.session() as s:  # entry 1 from a week ago
        s.execute(text("UPDATE audit_events SET at = :at WHERE id = 1"), {"at": datetime.now(UTC) - timedelta(days=7)})
    with TestClient(create_app(ctx)) as client:
        session(client, "auditor")

        def ids(**params: object) -> list[int]:
            answer = client.get("/api/audit", params=params)
            assert answer.status_code == 200, answer.text
            return [e["id"] for e in answer.json()]

        assert all(e["actor"] == "op.b" for e in client.get("/api/audit", params={"actor": "op.b"}).json())
        assert len(ids(actor="op.b")) == 10
        assert ids(action="camera-removed", object_type="camera", object_id="gate") == [31]
        assert ids(object_type="alert", object_id="a7") == [8]
        week_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        assert ids(until=week_ago, object_type="alert") == [1]
        assert 1 not in ids(since=week_ago, limit=500)
        # paging past the newest: each page starts before the last id shown, and together they cover all
        first = ids(object_type="alert", limit=12)
        second = ids(object_type="alert", limit=12, before=first[-1])
        third = ids(object_type="alert", limit=12, before=second[-1])
        assert first + second + third == list(range(30, 0, -1))
        for params, says in (({"since": "2026-12-01T00:00:00"}, "time zone"), ({"before": 0}, "before")):
            answer = client.get("/api/audit", params=params)
            assert answer.status_code == 422 and says in answer.text, answer.text
        session(client, "operator")
        assert client.get("/api/audit").status_code == 403
    browsed = ctx.audit.entries(limit=50, action="audit-browsed")
    assert any(e.details.get("actor") == "op.b" for e in browsed)  # each read audited with its filters


def test_verify_chain_reports_intact_with_the_last_anchored_head_and_names_a_broken_entry(  # type: ignore[no-untyped-def]
    tmp_path: Path, settings, engine
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    ctx = _context(tmp_path, settings, engine, audit_anchor=str(anchors))
    for i in range(5):
        ctx.audit.record("op.a", "alert-viewed", object_type="alert", object_id=f"a{i}")
    made = make_anchor(ctx.audit)
    publish(made, str(anchors))
    with TestClient(create_app(ctx)) as client:
        csrf = session(client, "auditor")
        assert client.post("/api/audit/verify").status_code == 403  # a change of state: the CSRF token
        answer = client.post("/api/audit/verify", headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 200, answer.text
        v = answer.json()
        assert v["ok"] is True and v["anchored"] is True and v["entries"] >= made.entries
        assert (v["anchor_at"], v["anchor_entries"], v["anchor_head"]) == (made.at, made.entries, made.head)
        with ctx.db.session() as s:  # someone edits entry 3 behind Vigil's back
            s.execute(text("UPDATE audit_events SET actor = 'nobody' WHERE id = 3"))
        v = client.post("/api/audit/verify", headers={"X-CSRF-Token": csrf}).json()
        assert v["ok"] is False and v["first_bad"] == 3 and v["reason"]
    checks = ctx.audit.entries(limit=10, action="audit-verified")
    assert [e.details["ok"] for e in checks] == [False, True] and checks[0].actor == "auditor"


def test_verify_chain_without_an_anchor_says_so(tmp_path: Path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    ctx = _context(tmp_path, settings, engine)
    with TestClient(create_app(ctx)) as client:
        csrf = session(client, "auditor")
        v = client.post("/api/audit/verify", headers={"X-CSRF-Token": csrf}).json()
    assert v["ok"] is True and v["anchored"] is False and v["anchor_at"] is None


@pytest.mark.parametrize("garbage", ["", "not json\n"])
def test_verify_chain_with_an_unreadable_anchor_is_not_intact(tmp_path: Path, settings, engine, garbage: str) -> None:  # type: ignore[no-untyped-def]
    anchors = tmp_path / "anchors.jsonl"
    anchors.write_text(garbage)
    ctx = _context(tmp_path, settings, engine, audit_anchor=str(anchors))
    with TestClient(create_app(ctx)) as client:
        csrf = session(client, "auditor")
        v = client.post("/api/audit/verify", headers={"X-CSRF-Token": csrf}).json()
    assert v["ok"] is False and v["anchored"] is True and "anchor" in v["reason"]
