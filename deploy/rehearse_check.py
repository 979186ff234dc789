"""The checks of deploy/rehearse.sh, one step per call, through Vigil's public interfaces only: the HTTP
API, the live WebSocket and a webhook receiver. It runs in a container of the Vigil image on the host's
network (so it needs nothing installed on the host) and keeps what later steps need in
/rehearse/state.json. Each step prints one line of facts; a failure prints why and exits 1.

    python rehearse_check.py STEP   (ready, setup, redflag, holder, takeover, snapshot, compare)
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

WORK = Path(os.environ.get("REHEARSE_DIR", "/rehearse"))
STATE = WORK / "state.json"
BASE = f"http://127.0.0.1:{os.environ.get('VIGIL_WEB_PORT', '18000')}"
WORKER_PORTS = [int(p) for p in os.environ.get("REHEARSE_WORKER_PORTS", "18081,18082").split(",")]
PASSWORD = os.environ.get("REHEARSE_PASSWORD", "")
CAMERA = os.environ.get("REHEARSE_CAMERA", "rehearsal-1")
CATEGORY = "missing-person"


class Failed(Exception):
    pass


def state() -> dict[str, Any]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save(**values: Any) -> None:
    STATE.write_text(json.dumps({**state(), **values}, indent=1))


def wait_for(what: str, condition: Callable[[], Any], timeout: float, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
            last = exc
        time.sleep(every)
    raise Failed(f"{what}: not within {timeout:g} s" + (f" (last error: {last})" if last else ""))


def api(token: str) -> httpx.Client:
    return httpx.Client(base_url=BASE, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def expect(response: httpx.Response, status: int, what: str) -> Any:
    if response.status_code != status:
        raise Failed(f"{what}: HTTP {response.status_code} (expected {status}): {response.text[:400]}")
    return response.json() if response.content else None


def token_for(username: str) -> str:
    answer = httpx.post(
        BASE + "/api/auth/token",
        json={"username": username, "password": PASSWORD, "label": "rehearsal"},
        timeout=30,
    )
    return str(expect(answer, 200, f"token for {username}")["token"])


def tokens() -> dict[str, str]:
    return dict(state()["tokens"])


# --- steps ---------------------------------------------------------------------------------------------


def step_ready() -> str:
    """The web server's and both workers' /readyz answer 200 (database, Redis)."""
    urls = [BASE + "/readyz"] + [f"http://127.0.0.1:{p}/readyz" for p in WORKER_PORTS]
    for url in urls:
        wait_for(f"{url} ready", lambda u=url: httpx.get(u, timeout=5).status_code == 200, 240, every=0.5)
    healthz = httpx.get(BASE + "/healthz", timeout=5)
    expect(healthz, 200, "/healthz")
    return f"/readyz 200 on the web server and {len(WORKER_PORTS)} workers"


def step_setup() -> str:
    """Users proposed by one admin and approved by the other (the CLI made the two admins); a subject
    proposed by one supervisor and approved by another; a webhook endpoint and a rule sending red flags to
    it; the camera (added by the CLI) listed, idle."""
    roles = {
        "supervisor1": "supervisor",
        "supervisor2": "supervisor",
        "authoriser": "authoriser",
        "operator": "operator",
    }
    issued = {name: token_for(name) for name in ("admin", "admin2")}
    with api(issued["admin"]) as admin, api(issued["admin2"]) as admin2:
        for name, role in roles.items():
            proposed = expect(
                admin.post("/api/users", json={"username": name, "password": PASSWORD, "role": role}), 201, name
            )
            if proposed.get("active"):
                raise Failed(f"{name} is active before a second admin approved")
            expect(admin2.post(f"/api/users/{name}/approve", json={"role": role}), 200, f"{name} approved")
        users = {u["username"]: u for u in expect(admin.get("/api/users"), 200, "users")}
    inactive = [n for n in [*roles, "admin", "admin2"] if not users.get(n, {}).get("active")]
    if inactive:
        raise Failed(f"users missing or inactive: {inactive}")
    issued.update({name: token_for(name) for name in roles})
    save(tokens=issued)
    photo = (WORK / "clips" / "portrait.jpg").read_bytes()
    expires = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    with api(issued["supervisor1"]) as proposer:
        proposed = expect(
            proposer.post(
                "/api/subjects",
                files={"photo": ("portrait.jpg", io.BytesIO(photo), "image/jpeg")},
                data={
                    "name": "Rehearsal Subject",
                    "category": CATEGORY,
                    "legal_basis_type": "missing person report",
                    "legal_basis_reference": "MP-REHEARSAL-1",
                    "expires": expires,
                },
            ),
            201,
            "subject proposed",
        )
        subject_id = proposed["subject_id"]
        refused = proposer.post(f"/api/subjects/{subject_id}/approve")
        if refused.status_code != 409:
            raise Failed(f"the proposer approved their own proposal: HTTP {refused.status_code}")
    with api(issued["supervisor2"]) as approver:
        approved = expect(approver.post(f"/api/subjects/{subject_id}/approve"), 200, "subject approved")
    if approved.get("status") != "active":
        raise Failed(f"approved subject is {approved.get('status')!r}, not active")
    port = int(os.environ["REHEARSE_HOOK_PORT"])
    with api(issued["admin"]) as admin:
        endpoint = expect(
            admin.post(
                "/api/notify/endpoints", json={"name": "rehearsal-hook", "url": f"http://127.0.0.1:{port}/hook"}
            ),
            201,
            "webhook endpoint",
        )
        if endpoint.get("suspended"):
            raise Failed(f"webhook endpoint suspended: {endpoint['suspended']}")
        expect(
            admin.post("/api/notify/rules", json={"name": "rehearsal-flags", "endpoint": "rehearsal-hook"}),
            201,
            "notification rule",
        )
        cameras = {c["name"]: c for c in expect(admin.get("/api/cameras"), 200, "cameras")}
    if CAMERA not in cameras:
        raise Failed(f"camera {CAMERA} not listed: {sorted(cameras)}")
    if cameras[CAMERA]["scanning"]:
        raise Failed(f"camera {CAMERA} scans before any authorisation")
    save(subject_id=subject_id, hook_secret=endpoint["secret"], hook_key=endpoint["key_id"])
    return (
        f"{len(roles)} users proposed by admin, approved by admin2; subject {subject_id[:8]} proposed by "
        f"supervisor1, approved by supervisor2 (own approval refused); webhook to 127.0.0.1:{port}; "
        f"camera {CAMERA} idle (no authorisation)"
    )


def step_redflag() -> str:
    """A WebSocket client of the web server and a webhook receiver listen; a supervisor requests an
    authorisation for the camera, an authoriser signs it; a worker sees the subject and raises a red flag
    that reaches both."""
    from websockets.sync.client import connect

    from vigil.notify.receiver import WebhookReceiver
    from vigil.notify.signing import verify

    st = state()
    issued = tokens()
    receiver = WebhookReceiver(port=int(os.environ["REHEARSE_HOOK_PORT"])).start()
    pushed: list[tuple[float, dict[str, Any]]] = []
    stop = threading.Event()
    connected = threading.Event()
    failure: list[str] = []

    def listen() -> None:
        try:
            with api(issued["operator"]) as operator:
                ticket = expect(operator.post("/api/auth/ticket"), 200, "live ticket")["ticket"]
            url = BASE.replace("http://", "ws://") + f"/api/alerts/live?ticket={ticket}"
            with connect(url, open_timeout=10) as ws:
                hello = json.loads(ws.recv(timeout=10))
                if hello.get("type") != "hello":
                    failure.append(f"the live socket answered {hello}")
                    return
                connected.set()
                while not stop.is_set():
                    try:
                        pushed.append((time.time(), json.loads(ws.recv(timeout=0.5))))
                    except TimeoutError:
                        continue
        except Exception as exc:  # reported as the step's failure
            failure.append(f"live socket: {type(exc).__name__}: {exc}")

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        wait_for("live socket connected", lambda: connected.is_set() or failure, 20)
        if failure:
            raise Failed(failure[0])
        now = datetime.now(UTC)
        with api(issued["supervisor1"]) as requester:
            request = expect(
                requester.post(
                    "/api/authorisations",
                    json={
                        "cameras": [CAMERA],
                        "categories": [CATEGORY],
                        "starts_at": now.isoformat(),
                        "ends_at": (now + timedelta(hours=2)).isoformat(),
                        "purpose": "deployment rehearsal",
                    },
                ),
                201,
                "authorisation requested",
            )
        if request["state"] != "requested":
            raise Failed(f"a new request is {request['state']!r}")
        with api(issued["authoriser"]) as authoriser:
            signed = expect(
                authoriser.post(f"/api/authorisations/{request['id']}/sign", json={"digest": request["digest"]}),
                200,
                "authorisation signed",
            )
        if signed["state"] != "active":
            raise Failed(f"the signed authorisation is {signed['state']!r}, not active")
        signed_at = time.time()

        def flagged() -> tuple[float, dict[str, Any]] | None:
            for at, message in pushed:
                if message.get("type") == "alert" and message["alert"]["subject_id"] == st["subject_id"]:
                    return at, message["alert"]
            return None

        at, alert = wait_for("red flag on the live socket", lambda: flagged() or (failure and failure[0]), 120)
        if isinstance(at, str):
            raise Failed(at)

        def hooked() -> Any:
            for received in receiver.requests():
                body = received.json
                if body.get("kind") == "raised" and body["alert"]["id"] == alert["id"]:
                    verify(received.headers, received.body, {st["hook_key"]: st["hook_secret"]})
                    return received
            return None

        received = wait_for("red flag at the webhook receiver", hooked, 60)
    finally:
        stop.set()
        listener.join(5)
        receiver.stop()
    with api(issued["admin"]) as admin:
        camera = next(c for c in expect(admin.get("/api/cameras"), 200, "cameras") if c["name"] == CAMERA)
    save(alert_id=alert["id"])
    return (
        f"authorisation {request['id'][:8]} requested by supervisor1, signed by authoriser; red flag "
        f"{alert['id'][:8]} (camera {alert['camera']}, score {alert['score']:.3f}) on the WebSocket "
        f"{at - signed_at:.1f} s after the signature, at the webhook (signature verified) "
        f"{received.at - signed_at:.1f} s after; camera held by {camera['worker']}"
    )


def _camera() -> dict[str, Any]:
    with api(tokens()["admin"]) as admin:
        return next(c for c in expect(admin.get("/api/cameras"), 200, "cameras") if c["name"] == CAMERA)


def step_holder() -> str:
    """Prints the worker holding the camera while it analyses (the shell kills that one)."""
    camera = wait_for("camera analysing", lambda: (c := _camera())["worker"] and c["last_frame_at"] and c, 60)
    return str(camera["worker"])


def step_takeover() -> str:
    """After the kill (REHEARSE_KILLED_AT, REHEARSE_KILLED): the camera held by the other worker
    (REHEARSE_OTHER) and a frame analysed there after the kill."""
    killed_at = float(os.environ["REHEARSE_KILLED_AT"])
    killed = os.environ["REHEARSE_KILLED"]
    other = os.environ["REHEARSE_OTHER"]

    def elsewhere() -> dict[str, Any] | None:
        camera = _camera()
        if camera["worker"] != other or not camera["last_frame_at"]:
            return None
        last = datetime.fromisoformat(camera["last_frame_at"]).timestamp()
        return camera if last > killed_at else None

    camera = wait_for("camera analysing on another worker", elsewhere, 90)
    seen = time.time() - killed_at
    frame = datetime.fromisoformat(camera["last_frame_at"]).timestamp() - killed_at
    save(takeover_s=round(frame, 2), takeover_seen_s=round(seen, 2))
    return (
        f"camera {CAMERA} moved from {killed} to {camera['worker']}: analysing again {frame:.1f} s after the "
        f"kill (its lease row's last frame), seen through the API at {seen:.1f} s"
    )


def _alerts() -> dict[str, str]:
    with api(tokens()["supervisor1"]) as supervisor:
        page = expect(supervisor.get("/api/alerts", params={"limit": 200}), 200, "alerts")
    return {a["id"]: a["status"] for a in page["alerts"]}


def step_snapshot() -> str:
    alerts = _alerts()
    if state()["alert_id"] not in alerts:
        raise Failed("the red flag is not in the alert list")
    save(alerts=alerts)
    return f"{len(alerts)} alerts stored before the stop"


def step_compare() -> str:
    before: dict[str, str] = state()["alerts"]
    after = _alerts()
    lost = sorted(set(before) - set(after))
    changed = sorted(a for a in before if a in after and after[a] != before[a])
    if lost or changed:
        raise Failed(f"after the restart alerts lost {lost}, changed {changed}")
    return f"all {len(before)} alerts still there ({len(after)} now), statuses unchanged"


STEPS: dict[str, Callable[[], str]] = {
    "ready": step_ready,
    "setup": step_setup,
    "redflag": step_redflag,
    "holder": step_holder,
    "takeover": step_takeover,
    "snapshot": step_snapshot,
    "compare": step_compare,
}


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in STEPS:
        print(f"usage: rehearse_check.py {{{','.join(STEPS)}}}", file=sys.stderr)
        return 2
    try:
        print(STEPS[sys.argv[1]]())
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
