"""Who is asking, and what they may reach: solo use on loopback, or a classroom of seats.

Classroom mode gives every learner a seat (its own lab instance, ``seat-<n>``)
and an unguessable token; the instructor has a token of their own. A token is
presented once in a link (``/join/<token>``), then lives in an HttpOnly,
SameSite=Strict cookie, so no secret stays in URLs, histories or logs.
"""

from __future__ import annotations

import csv
import hmac
import io
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import UsageError

SEAT_COOKIE = "labs_seat"
INSTRUCTOR_COOKIE = "labs_instructor"


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


@dataclass
class Seat:
    number: int
    name: str
    token: str
    lab: str | None = None  # the lab this seat works on (fixed by --lab, or chosen)
    last_activity: float = field(default_factory=time.time)
    started_at: float | None = None  # when the seat's current lab was started (time on task)
    idle_warning: str | None = None
    notice: str | None = None  # e.g. why its lab was stopped

    @property
    def instance(self) -> str:
        return f"seat-{self.number}"

    def touch(self) -> None:
        self.last_activity = time.time()
        self.idle_warning = None


def read_roster(path: Path) -> list[str]:
    """Learner names from a CSV: a column named ``name`` (or ``learner``), else the first column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise UsageError(f"--classroom {path}: cannot read it ({err.strerror})", "give a CSV file with one learner name a line (or a 'name' column)") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise UsageError(f"--classroom {path}: no learners in it", "one learner name a line, or a CSV with a 'name' column")
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(h) for h in ("name", "learner", "student") if h in header), None)
    if column is not None:
        rows = rows[1:]
    names = [row[column or 0].strip() for row in rows if len(row) > (column or 0) and row[column or 0].strip()]
    if not names:
        raise UsageError(f"--classroom {path}: no learner names found", "one learner name a line, or a CSV with a 'name' column")
    return [re.sub(r"[\x00-\x1f]", "", n)[:80] for n in names]


class Classroom:
    """The seats and the instructor's token; lookups compare tokens in constant time."""

    def __init__(self, names: list[str], lab: str | None = None):
        self.instructor_token = new_token()
        self.seats = [Seat(i + 1, name, new_token(), lab) for i, name in enumerate(names)]
        self.fixed_lab = lab

    @classmethod
    def anonymous(cls, count: int, lab: str | None = None) -> Classroom:
        if count < 1 or count > 200:
            raise UsageError(f"--seats {count}: give between 1 and 200", "for example --seats 12")
        return cls([f"seat {i + 1}" for i in range(count)], lab)

    def seat_for(self, token: str | None) -> Seat | None:
        if not token:
            return None
        found = None
        for seat in self.seats:  # no early exit: the time taken says nothing about the token
            if hmac.compare_digest(seat.token.encode(), token.encode()):
                found = seat
        return found

    def is_instructor(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.instructor_token.encode(), token.encode())

    def seat_by_instance(self, instance: str) -> Seat | None:
        return next((s for s in self.seats if s.instance == instance), None)


@dataclass
class Caller:
    """The caller of one request: solo (the whole machine's labs), a seat, or the instructor."""

    kind: str  # "solo" | "seat" | "instructor" | "nobody"
    seat: Seat | None = None

    def may_use(self, instance: str) -> bool:
        if self.kind == "solo":
            return True
        return self.kind == "seat" and self.seat is not None and self.seat.instance == instance


def caller_of(cookies: dict, classroom: Classroom | None) -> Caller:
    if classroom is None:
        return Caller("solo")
    if classroom.is_instructor(cookies.get(INSTRUCTOR_COOKIE)):
        return Caller("instructor")
    seat = classroom.seat_for(cookies.get(SEAT_COOKIE))
    if seat is not None:
        return Caller("seat", seat)
    return Caller("nobody")


def scrub(path: str) -> str:
    """A request path fit for a log: the token of a /join/ link replaced."""
    return re.sub(r"(/join/)[^/?#\s]+", r"\1…", path)
