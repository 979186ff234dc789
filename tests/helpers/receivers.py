"""Real peers for the notification tests: the package's webhook receiver (``vigil.notify.receiver``), a
Mosquitto broker of our own (the machine's binary, on a free port, to stop and start mid-test) and an MQTT
subscriber."""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.helpers.streaming import free_port

from vigil.notify.receiver import WebhookReceiver

__all__ = ["PrivateMosquitto", "Subscriber", "WebhookReceiver", "mosquitto_missing"]


def mosquitto_missing() -> str | None:
    return None if shutil.which("mosquitto") else "the mosquitto binary is not installed"


class PrivateMosquitto:
    """A Mosquitto broker of our own (no persistence) on a free port; with ``users`` it asks for a password."""

    def __init__(self, workdir: Path, *, users: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.users = users
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        # as root, mosquitto would switch to its own user, who cannot read the test's private folder
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", f"user {getpass.getuser()}"]
        if users:
            passwords = workdir / "passwords"
            passwords.write_text("")
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.config = workdir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> PrivateMosquitto:
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class Subscriber:
    """An MQTT client subscribed to ``topic`` at QoS 1, resubscribing after every reconnect."""

    def __init__(self, port: int, topic: str = "#") -> None:
        import paho.mqtt.client as paho

        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)
        self.client.reconnect_delay_set(1, 1)

        def on_connect(client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                client.subscribe(topic, qos=1)

        def on_subscribe(*_args: Any) -> None:
            self.subscribed.set()

        def on_message(_c: Any, _u: Any, message: Any) -> None:
            with self._lock:
                self.messages.append((message.topic, json.loads(message.payload), bool(message.retain)))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the subscriber did not subscribe"

    def received(self) -> list[tuple[str, dict[str, Any], bool]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
