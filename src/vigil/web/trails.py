"""Which trails a user has been shown lately, so that a page's automatic refresh is not audited as a
person reading a trail again (issue 29: a short field visit wrote 76 trail reads).

A view the person asks for (opening or reloading a page, changing a filter) is always audited; a refresh
after a live event is audited only for a subject whose trail this user has not been shown within
``window_s`` — a new person appearing in a refresh is still a read. The memory is this process's: scaled
out, another web server may audit a refresh once more, never less."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TrailReads:
    def __init__(self, window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._shown: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def should_audit(self, username: str, subject_id: str, *, refresh: bool) -> bool:
        """Whether this showing of ``subject_id``'s trail to ``username`` is a read to audit (and remember it)."""
        now = self._clock()
        with self._lock:
            if len(self._shown) > 10_000:
                self._shown = {k: t for k, t in self._shown.items() if now - t < self.window_s}
            last = self._shown.get((username, subject_id))
            audit = not refresh or last is None or now - last >= self.window_s
            if audit:
                self._shown[(username, subject_id)] = now
            return audit
