"""What the importer reads from the knowledge base: the schemes the table's strings are parsed into,
and the panels, topics, variants, procedures and ratings that a table may already share with it.

Everything comes from the ontology by the named queries of queries/internal/tables/, so a scheme has one
definition (the ontology's) and the importer never keeps a second list.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from kg import queries
from kg.kb.tables.clean import key
from kg.store import EmbeddedStore

_RADIATION_SIGN = "☢"
_BAND = re.compile(r"^(<)?\s*(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?\s*mSv$", re.IGNORECASE)


@dataclass(frozen=True)
class Category:
    iri: str
    label: str
    minimum: int
    maximum: int


@dataclass(frozen=True)
class Level:
    iri: str
    symbol: str
    adult: tuple[Decimal, Decimal] | None
    pediatric: tuple[Decimal, Decimal] | None


@dataclass(frozen=True)
class KnownRating:
    iri: str
    values: tuple  # (category, median, soe, adult RRL, pediatric RRL), IRIs or None


@dataclass
class Catalogue:
    categories: dict[str, Category]  # by the key of each label and notation
    evidence: dict[str, str]  # key of the label -> IRI
    levels: dict[str, Level]  # key of the symbol -> level
    procedures: dict[str, str]  # key of a label or name text -> procedure IRI
    procedure_labels: dict[str, str]  # procedure IRI -> label
    named_in: set[tuple[str, str]]  # (procedure, revision) pairs with a name
    panels: dict[str, str]  # key of a label ("panel" dropped) -> IRI
    panel_labels: dict[str, str]
    topics: dict[int, str]  # topic id -> IRI
    topic_panels: dict[str, set[str]]
    revisions: dict[str, str]  # IRI -> label
    variants: dict[tuple[str, int], str]  # (topic IRI, number) -> IRI
    ratings: dict[tuple[str, str], KnownRating]  # (variant, procedure) -> rating
    iris: set[str] = field(default_factory=set)  # every IRI above, to keep new IRIs apart

    def category(self, text: str) -> Category | None:
        return self.categories.get(key(text))

    def soe(self, text: str) -> str | None:
        return self.evidence.get(key(text))

    def level(self, text: str, *, pediatric: bool) -> tuple[Level | None, str | None]:
        """The level an ACR radiation string names (e.g. '☢☢☢ 1-10 mSv', 'O 0 mSv', '☢☢ 0.03-0.3 mSv [ped]').

        Returns (level, problem): no level when the symbol is unknown; a problem when the dose band
        written after the symbol is not the level's band for that age group.
        """
        text = re.sub(r"\[\s*ped\s*\]", "", text, flags=re.IGNORECASE).strip()
        match = re.match(rf"^(O|{_RADIATION_SIGN}+|Varies)(?![A-Za-z])\s*(.*)$", text, re.IGNORECASE)
        if not match:
            return None, None
        level = self.levels.get(key(match.group(1)))
        if level is None:
            return None, None
        band_text = match.group(2).strip()
        if not band_text:
            return level, None
        band = _BAND.match(band_text)
        expected = level.pediatric if pediatric else level.adult
        if band is None or expected is None:
            return level, f"dose band {band_text!r} is not a band of level {level.symbol}"
        low = Decimal(0) if band.group(1) else Decimal(band.group(2))
        high = Decimal(band.group(3) or band.group(2))
        if (low, high) != expected:
            group = "pediatric" if pediatric else "adult"
            return level, (f"dose band {band_text!r} is not the {group} band of level {level.symbol} "
                           f"({expected[0]}-{expected[1]} mSv)")
        return level, None


def _rows(store: EmbeddedStore, name: str):
    return store.select(queries.internal(f"tables/{name}").text)


def load(files: Iterable[Path] | None = None) -> Catalogue:
    """The catalogue of the given Turtle files (default: the project's ontology and knowledge base)."""
    store = EmbeddedStore(kb_files=None if files is None else list(files))
    categories = {}
    for r in _rows(store, "categories"):
        category = Category(r["category"], r["label"], int(r["min"]), int(r["max"]))
        for name in (r["label"], r["notation"]):
            if name:
                categories[key(name)] = category
    evidence = {key(r["label"]): r["soe"] for r in _rows(store, "evidence")}
    levels = {}
    for r in _rows(store, "radiation"):
        adult = (r["adultLower"], r["adultUpper"]) if r["adultLower"] is not None else None
        pediatric = (r["pediatricLower"], r["pediatricUpper"]) if r["pediatricLower"] is not None else None
        levels[key(r["symbol"])] = Level(r["level"], r["symbol"], adult, pediatric)
    procedures, labels, named_in = {}, {}, set()
    for r in _rows(store, "procedures"):
        if r["label"]:
            labels[r["procedure"]] = r["label"]
        for name in (r["label"], r["nameText"]):
            if name:
                procedures.setdefault(key(name), r["procedure"])
        if r["revision"]:
            named_in.add((r["procedure"], r["revision"]))
    panels, panel_labels = {}, {}
    for r in _rows(store, "panels"):
        label = r["label"] or r["panel"].rsplit("/", 1)[-1]
        panel_labels[r["panel"]] = label
        panels[key(re.sub(r"\s*panel$", "", label, flags=re.IGNORECASE))] = r["panel"]
    topics, topic_panels = {}, defaultdict(set)
    for r in _rows(store, "topics"):
        if r["topicId"] is not None:
            topics[int(r["topicId"])] = r["topic"]
        if r["panel"]:
            topic_panels[r["topic"]].add(r["panel"])
    revisions = {r["revision"]: r["label"] or "" for r in _rows(store, "revisions")}
    variants = {(r["topic"], int(r["variantNumber"])): r["variant"] for r in _rows(store, "variants")}
    ratings = {(r["variant"], r["procedure"]): KnownRating(
        r["rating"], (r["category"], r["median"], r["soe"], r["adultRRL"], r["pediatricRRL"]))
        for r in _rows(store, "ratings")}
    iris = {*procedures.values(), *panels.values(), *topics.values(), *revisions, *variants.values(),
            *(k.iri for k in ratings.values())}
    return Catalogue(categories, evidence, levels, procedures, labels, named_in, panels, panel_labels, topics,
                     dict(topic_panels), revisions, variants, ratings, iris)
