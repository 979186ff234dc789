"""50 browsers connected at once (WebSocket clients on loopback, each with its own operator session)
all receive every red flag, in order."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import numpy as np
import pytest
import websockets
from tests.helpers import alert_event, jpeg, live_fields
from tests.helpers.webserver import PASSWORD, start_server

pytestmark = [pytest.mark.slow]

CLIENTS = 50
ALERTS = 5


def test_fifty_live_clients_all_receive_every_red_flag(tmp_path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    running = start_server(tmp_path, settings, engine)
    subject = running.watchlist.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))]).subject_id
    cookies = []
    try:
        with httpx.Client(base_url=running.url) as http:
            for _ in range(CLIENTS):
                response = http.post("/api/auth/login", json={"username": "operator", "password": PASSWORD})
                assert response.status_code == 200
                cookies.append(response.cookies["vigil_session"])
                http.cookies.clear()
        raised_at: dict[str, float] = {}

        async def client(cookie: str, ready: asyncio.Event, counter: list[int]) -> list[tuple[str, float]]:
            url = running.url.replace("http://", "ws://") + "/api/alerts/live"
            received: list[tuple[str, float]] = []
            async with websockets.connect(url, additional_headers={"Cookie": f"vigil_session={cookie}"}) as socket:
                assert json.loads(await socket.recv())["type"] == "hello"
                counter[0] += 1
                if counter[0] == CLIENTS:
                    ready.set()
                while len(received) < ALERTS:
                    event = json.loads(await asyncio.wait_for(socket.recv(), 30))
                    if event["type"] == "alert":
                        received.append((event["alert"]["id"], time.time()))
            return received

        def raise_alerts() -> None:
            for i in range(ALERTS):
                now = time.time()
                stored = running.recorder.raise_alert(alert_event(subject, track=f"t-{i}"))
                assert stored is not None and stored.alert_id
                raised_at[stored.alert_id] = stored.stored_at or now
                time.sleep(0.2)

        async def scenario() -> list[list[tuple[str, float]]]:
            ready, counter = asyncio.Event(), [0]
            tasks = [asyncio.create_task(client(c, ready, counter)) for c in cookies]
            await asyncio.wait_for(ready.wait(), 30)
            await asyncio.to_thread(raise_alerts)
            return await asyncio.gather(*tasks)

        results = asyncio.run(scenario())
    finally:
        running.stop()
    order = list(raised_at)
    assert len(results) == CLIENTS
    for received in results:
        assert [alert_id for alert_id, _ in received] == order  # every alert, in order, on every client
    delays = [1000 * (t - raised_at[a]) for received in results for a, t in received]
    print(
        f"{CLIENTS} clients x {ALERTS} alerts: delivery max {max(delays):.0f} ms, "
        f"p95 {float(np.percentile(delays, 95)):.0f} ms"
    )
    assert max(delays) < 1000
