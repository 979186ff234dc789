"""What the live pipeline asks of the watchlist: who might this be, and by which rule is it decided?

A thin read-only view over :class:`~vigil.domain.watchlist.WatchlistService`: gallery search, exact
per-subject scores, and each subject's name, category and decision rule (the category's threshold, or
the embedder's default, and its minimum number of faces). Subject details are cached by id.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from vigil.domain.watchlist import WatchlistService
from vigil.recognition.decision import DecisionRule
from vigil.recognition.gallery import Candidate
from vigil.store.models import Category, Subject
from vigil.vision.catalogue import default_threshold


@dataclass(frozen=True)
class SubjectCard:
    subject_id: str
    display_name: str
    category: str
    rule: DecisionRule


class WatchlistMatcher:
    def __init__(self, watchlist: WatchlistService) -> None:
        self.watchlist = watchlist
        self.default_threshold = default_threshold(watchlist.engine.embedder.name)
        self._cards: dict[str, SubjectCard] = {}
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self.watchlist._gallery().subjects

    def search(self, vectors: np.ndarray, k: int, at: float) -> list[list[Candidate]]:
        return self.watchlist.search(vectors, k, at=datetime.fromtimestamp(at, UTC))

    def subject_scores(self, vectors: np.ndarray, subject_ids: list[str]) -> np.ndarray:
        return self.watchlist._gallery().subject_scores(vectors, subject_ids)

    def card(self, subject_id: str) -> SubjectCard:
        with self._lock:
            card = self._cards.get(subject_id)
        if card is not None:
            return card
        with self.watchlist.db.session() as session:
            row = session.execute(
                select(Subject.display_name, Subject.category, Category.match_threshold, Category.min_faces)
                .join(Category, Category.name == Subject.category)
                .where(Subject.id == subject_id)
            ).one()
        threshold = row[2] if row[2] is not None else self.default_threshold
        card = SubjectCard(subject_id, row[0], row[1], DecisionRule(float(threshold), int(row[3])))
        with self._lock:
            self._cards[subject_id] = card
        return card

    def refresh(self, *, force: bool = False) -> bool:
        """Pick up watchlist changes made elsewhere (see ``WatchlistService.refresh``)."""
        if not self.watchlist.refresh(force=force):
            return False
        self.forget()
        return True

    def apply_changes(self, subject_ids: set[str], *, rules: bool = False) -> None:
        """Apply changes made elsewhere to these subjects (and, with ``rules``, to category rules)
        without rebuilding the gallery."""
        for subject_id in subject_ids:
            self.watchlist.refresh_subject(subject_id)
        with self._lock:
            if rules:
                self._cards.clear()
            for subject_id in subject_ids:
                self._cards.pop(subject_id, None)

    def forget(self) -> None:
        """Drop cached subject details (after a category's rule or a subject changed)."""
        with self._lock:
            self._cards.clear()
