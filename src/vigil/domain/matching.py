"""What the live pipeline asks of the watchlist: who might this be, and by which rule is it decided?

A thin read-only view over the watchlist's :class:`~vigil.domain.replica.GalleryReplica`: gallery
search, exact per-subject scores, and each subject's name, category and decision rule — the category's
operating point from its false-alert policy, the error curves and the current watchlist size (or a
threshold set by hand; ``vigil.domain.thresholds.category_rules``). Subject details are cached by id and
dropped when the replica reports the subject changed; the rules are worked out again whenever the
watchlist's size or the category rules change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from vigil.domain.pending import is_outage
from vigil.domain.replica import ReplicaChange
from vigil.domain.thresholds import category_rules
from vigil.domain.watchlist import WatchlistService
from vigil.recognition.decision import DecisionRule
from vigil.recognition.gallery import Candidate
from vigil.store.models import Subject

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubjectCard:
    subject_id: str
    display_name: str
    category: str
    rule: DecisionRule


class WatchlistMatcher:
    def __init__(self, watchlist: WatchlistService) -> None:
        self.watchlist = watchlist
        self.replica = watchlist.replica
        self._cards: dict[str, SubjectCard] = {}
        self._rules: dict[str, DecisionRule] = {}
        self._rules_size = -1  # the watchlist size the rules were worked out for
        self._lock = threading.Lock()
        self.replica.subscribe(self._changed)

    @property
    def size(self) -> int:
        return self.replica.subjects

    def search(
        self, vectors: np.ndarray, k: int, at: float, admit: Callable[[str], bool] | None = None
    ) -> list[list[Candidate]]:
        return self.replica.search(vectors, k, at=at, admit=admit)

    def subject_scores(self, vectors: np.ndarray, subject_ids: list[str]) -> np.ndarray:
        return self.replica.subject_scores(vectors, subject_ids)

    def rule(self, category: str) -> DecisionRule:
        """The category's rule at the gallery's current size."""
        size = self.size
        with self._lock:
            if size == self._rules_size and category in self._rules:
                return self._rules[category]
        embedder = self.watchlist.engine.embedder
        rules = {
            name: rule
            for name, (rule, _) in category_rules(self.watchlist.db, embedder.name, embedder.version, size).items()
        }
        with self._lock:
            self._rules, self._rules_size = rules, size
        return rules[category]

    def card(self, subject_id: str) -> SubjectCard:
        """The subject's name, category and rule. A card whose rule is stale (the watchlist's size
        changed) gets the current rule; while the database is unreachable it keeps the last one, so that
        a camera goes on deciding (and queueing its alerts) through an outage."""
        size = self.size
        with self._lock:
            card = self._cards.get(subject_id)
            current = self._rules_size == size
        if card is not None and current:
            return card
        try:
            if card is None:
                with self.watchlist.db.session() as session:
                    name, category = session.execute(
                        select(Subject.display_name, Subject.category).where(Subject.id == subject_id)
                    ).one()
            else:
                name, category = card.display_name, card.category
            card = SubjectCard(subject_id, name, category, self.rule(category))
        except Exception as exc:
            if card is not None and is_outage(exc):
                return card
            raise
        with self._lock:
            self._cards[subject_id] = card
        return card

    def _changed(self, change: ReplicaChange) -> None:
        """The replica applied a change: forget what it may have made stale, and read the changed
        subjects' cards again now, while the database answers (an outage may follow)."""
        if change.rules or change.reloaded:
            self.forget()
            return
        with self._lock:
            for subject_id in change.subjects:
                self._cards.pop(subject_id, None)
        for subject_id in change.subjects:
            try:
                self.card(subject_id)
            except Exception as exc:  # removed meanwhile, or the database went away: read when needed
                log.debug("card of subject %s not read ahead: %s", subject_id, exc)

    def forget(self) -> None:
        """Drop cached subject details and rules (after a category's rule or a subject changed)."""
        with self._lock:
            self._cards.clear()
            self._rules_size = -1
