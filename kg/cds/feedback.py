"""The service's log in SQLite: every consultation (its ``pama-rating-consult-id``), the cards and
suggestions it returned, and the feedback the EHR sent about them (CDS Hooks 2.0).

Feedback is accepted only for cards this service issued, and accepted suggestions only from their
own card, so the log can be joined end to end: which rating, which variant, what the clinician did and why.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from kg.cds.models import FeedbackItem

SCHEMA = """
CREATE TABLE IF NOT EXISTS consultation (
    consult_id TEXT PRIMARY KEY, service TEXT NOT NULL, hook_instance TEXT NOT NULL, order_id TEXT,
    procedure TEXT, rating TEXT, variant TEXT, knowledge_base TEXT, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS card (
    uuid TEXT PRIMARY KEY, service TEXT NOT NULL, consult_id TEXT REFERENCES consultation(consult_id),
    indicator TEXT NOT NULL, summary TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS suggestion (
    uuid TEXT PRIMARY KEY, card TEXT NOT NULL REFERENCES card(uuid), label TEXT NOT NULL, procedure TEXT);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY, service TEXT NOT NULL, card TEXT NOT NULL REFERENCES card(uuid),
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')), accepted_suggestions TEXT NOT NULL,
    reason_system TEXT, reason_code TEXT, reason_display TEXT, user_comment TEXT,
    outcome_timestamp TEXT NOT NULL, received TEXT NOT NULL);
"""


class UnknownCard(ValueError):
    """Feedback that names a card or suggestion this service never issued (answered as 400)."""


@dataclass(frozen=True)
class Consultation:
    consult_id: str
    service: str
    hook_instance: str
    order_id: str | None
    procedure: str | None
    rating: str | None
    variant: str | None
    knowledge_base: str


@dataclass(frozen=True)
class IssuedCard:
    uuid: str
    consult_id: str | None
    indicator: str
    summary: str
    suggestions: tuple[tuple[str, str, str | None], ...] = ()  # (uuid, label, procedure IRI)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class FeedbackStore:
    """One SQLite database shared by the server's threads (one connection behind a lock)."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                # A commit then waits for no disk flush (30-120 ms on a busy disk, inside the EHR's call): the
                # log survives a crash of the service; a power loss may take its last commits.
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, consultations: list[Consultation], cards: list[IssuedCard]) -> None:
        """Log one hook call's answer, all of it or nothing."""
        created = _now()
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO consultation VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(c.consult_id, c.service, c.hook_instance, c.order_id, c.procedure, c.rating, c.variant,
                  c.knowledge_base, created) for c in consultations])
            for card in cards:
                service = next((c.service for c in consultations if c.consult_id == card.consult_id), None)
                self._db.execute("INSERT INTO card VALUES (?, ?, ?, ?, ?, ?)",
                                 (card.uuid, service or "", card.consult_id, card.indicator, card.summary, created))
                self._db.executemany("INSERT INTO suggestion VALUES (?, ?, ?, ?)",
                                     [(uuid, card.uuid, label, procedure) for uuid, label, procedure in card.suggestions])

    def add_feedback(self, service: str, items: list[FeedbackItem]) -> int:
        """Store the feedback of one POST; UnknownCard (nothing stored) if any item names a card or
        suggestion this service did not issue."""
        received = _now()
        rows = []
        with self._lock, self._db:
            self._db.execute("BEGIN")
            for index, item in enumerate(items):
                card = self._db.execute("SELECT service FROM card WHERE uuid = ?", (item.card,)).fetchone()
                if card is None or card["service"] != service:
                    raise UnknownCard(f"feedback[{index}].card {item.card!r} is not a card of service {service!r}")
                accepted = [s.id for s in item.acceptedSuggestions or ()]
                known = {r["uuid"] for r in self._db.execute("SELECT uuid FROM suggestion WHERE card = ?", (item.card,))}
                stray = [s for s in accepted if s not in known]
                if stray:
                    raise UnknownCard(f"feedback[{index}].acceptedSuggestions {stray} are not suggestions of card {item.card!r}")
                reason = item.overrideReason.reason if item.overrideReason and item.overrideReason.reason else None
                rows.append((service, item.card, item.outcome, json.dumps(accepted),
                             reason.system if reason else None, reason.code if reason else None,
                             reason.display if reason else None,
                             item.overrideReason.userComment if item.overrideReason else None,
                             item.outcomeTimestamp.isoformat(), received))
            self._db.executemany(
                "INSERT INTO feedback (service, card, outcome, accepted_suggestions, reason_system, reason_code, "
                "reason_display, user_comment, outcome_timestamp, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def feedback(self, *, service: str | None = None) -> list[dict]:
        """Every feedback item, oldest first, with the rating and variant of the card it is about and
        the labels of the suggestions accepted."""
        query = """
            SELECT f.id, f.service, f.card, f.outcome, f.accepted_suggestions, f.reason_system, f.reason_code,
                   f.reason_display, f.user_comment, f.outcome_timestamp, f.received,
                   c.consult_id, k.order_id, k.procedure, k.rating, k.variant
            FROM feedback f JOIN card c ON c.uuid = f.card LEFT JOIN consultation k ON k.consult_id = c.consult_id
            WHERE ? IS NULL OR f.service = ? ORDER BY f.id"""
        with self._lock:
            rows = [dict(r) for r in self._db.execute(query, (service, service))]
            labels = {r["uuid"]: r["label"] for r in self._db.execute("SELECT uuid, label FROM suggestion")}
        for row in rows:
            ids = json.loads(row.pop("accepted_suggestions"))
            row["accepted_suggestions"] = [{"id": i, "label": labels.get(i)} for i in ids]
        return rows

    def consultations(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._db.execute("SELECT * FROM consultation ORDER BY created, consult_id")]
