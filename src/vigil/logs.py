"""How a process writes its log: one readable line per record (the default) or, with
``VIGIL_LOG_FORMAT=json``, one JSON object per line for a log collector — ``time`` (UTC, ISO 8601),
``level``, ``logger``, ``message`` and, where known, ``camera``, ``worker``, ``request_id`` and ``user``
(and ``exception``, the traceback, when there is one).

Where known: a camera's threads bind its name (:func:`bind`), a worker binds its id for the whole
process (:func:`bind_process`), the control room binds a request id to each request and the user once
signed in (:func:`request_scope`, :func:`set_user`). Nothing else is added: the message is the one the
code wrote, and no code logs a face, an embedding, a score or a box (tests/test_no_trace.py reads both
formats)."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

FIELDS = ("camera", "worker", "request_id", "user")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_process: dict[str, str] = {}  # bound for the whole process (a worker's id)
_context: ContextVar[dict[str, str] | None] = ContextVar("vigil_log_context", default=None)


def bind_process(**fields: str) -> None:
    """Fields every record of this process carries from now on (e.g. ``worker``)."""
    _process.update({k: v for k, v in fields.items() if k in FIELDS and v})


def bind(**fields: str) -> None:
    """Fields the records of the current thread (or task) carry from now on, e.g. ``camera`` at the top
    of a camera's thread: a new thread starts with none."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in fields.items() if k in FIELDS and v})
    _context.set(current)


@contextmanager
def request_scope(request_id: str) -> Iterator[dict[str, str]]:
    """The fields of one request: every record written while it is handled, in any thread the framework
    runs it on (the dict is shared, so :func:`set_user` from a dependency reaches them all)."""
    scope = {**(_context.get() or {}), "request_id": request_id}
    token = _context.set(scope)
    try:
        yield scope
    finally:
        _context.reset(token)


def set_user(username: str) -> None:
    """The signed-in user of the request being handled (no-op outside a request)."""
    scope = _context.get()
    if scope is not None and "request_id" in scope:
        scope["user"] = username


def current_fields() -> dict[str, str]:
    return {**_process, **(_context.get() or {})}


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (attributes ``camera``, ``worker`` …) for either format."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current_fields().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside the message or traceback are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value:
                line[key] = value
        if record.exc_info:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(kind: Literal["text", "json"]) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(kind: Literal["text", "json"] = "text", level: int = logging.WARNING) -> None:
    """The root logger writes to stderr in ``kind``; called by the ``vigil`` command. Like
    ``logging.basicConfig`` it leaves a root logger that someone else (a test harness) gave handlers alone;
    its own handler from an earlier call is replaced."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_vigil", False)]
    if len(ours) < len(root.handlers):
        return
    for handler in ours:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    handler.addFilter(ContextFilter())
    handler._vigil = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
