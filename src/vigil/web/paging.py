"""Every list the control room serves comes a page at a time (``?limit=&offset=``), so no single call
hands out the whole watchlist; the ``X-Next-Offset`` header says where the next page starts (absent on
the last page)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Response

T = TypeVar("T")
MAX_PAGE = 500
NEXT_OFFSET = "X-Next-Offset"


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def fetch(self) -> tuple[int, int]:
        """(limit, offset) to ask the store for: one more than a page, to know whether another follows."""
        return self.limit + 1, self.offset

    def cut(self, rows: Sequence[T], response: Response) -> list[T]:
        """This page of ``rows`` (fetched with :meth:`fetch`), with the next page's offset in a header."""
        if len(rows) > self.limit:
            response.headers[NEXT_OFFSET] = str(self.offset + self.limit)
        return list(rows[: self.limit])

    def take(self, rows: Sequence[T], response: Response) -> list[T]:
        """This page of a whole list held in memory."""
        return self.cut(rows[self.offset : self.offset + self.limit + 1], response)


def page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip (the previous X-Next-Offset).")] = 0,
) -> Page:
    return Page(limit, offset)


Paged = Annotated[Page, Depends(page)]
