"""From cleaned rows to our model: panels, topics, revisions, variants, procedures and ratings.

An entity the knowledge base already has (a topic by its ACR id, a variant by topic and number, a
procedure by name, a panel by label) is referred to and never restated; only what is new is written.
A table with a sidecar ``<table>.sources.yaml`` was typed by the project from its own sources: its
facts cite those sources and the named revision, instead of the table's rows (see README).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kg.errors import InputError
from kg.kb.tables import clean
from kg.kb.tables.catalogue import Catalogue
from kg.kb.tables.qc import Finding, finding, score_findings
from kg.kb.tables.reader import Row, read_table
from kg.terms import ACRKB, PREFIXES

SIDECAR_SUFFIX = ".sources.yaml"
_VARIANT = re.compile(r"^variant\s*(\d+)\s*[:.\-\u2013]?\s*(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Curated:
    """What a sidecar says: the sources a table was typed from, its revision and curation activity."""

    sources: tuple[str, ...]
    revision: str
    activity: str


@dataclass
class Table:
    path: Path
    digest: str  # sha256 of the file's bytes
    curated: Curated | None
    edition: dt.date | None
    title: str

    @property
    def iri(self) -> str:
        return f"{ACRKB}table-{self.digest[:12]}"

    @property
    def activity(self) -> str:
        return self.curated.activity if self.curated else f"{ACRKB}import-{self.digest[:12]}"

    def row_source(self, row: Row) -> str:
        sheet = f"-{clean.slug(row.sheet.name)}" if row.sheet.name else ""
        return f"{self.iri}{sheet}-row-{row.number}"

    def sources(self, row: Row) -> tuple[str, ...]:
        if not self.curated:
            return (self.row_source(row),)
        where = row.sheet.where(row.number, "sources") if "sources" in row.sheet.columns else ""
        extra = row.values.get("sources", "").replace(",", " ").split()
        return self.curated.sources + tuple(_expand(curie, where) for curie in extra)


# Records compare by identity: equal fields never make two panels, topics or revisions one.
@dataclass(eq=False)
class Panel:
    iri: str
    label: str
    first: Row
    table: Table
    known: bool


@dataclass(eq=False)
class Topic:
    iri: str
    topic_id: int | None
    title: str | None
    first: Row
    table: Table
    known: bool
    panels: dict[str, Row] = field(default_factory=dict)  # panel IRI -> the row that first named it
    new_panels: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return str(self.topic_id) if self.topic_id is not None else clean.slug(self.title or "")


@dataclass(eq=False)
class Revision:
    iri: str
    topic: Topic
    label: str
    edition: dt.date | None
    first: Row
    table: Table
    known: bool


@dataclass(eq=False)
class Variant:
    iri: str
    topic: Topic
    number: int
    text: str
    revision: Revision
    first: Row
    table: Table
    known: bool
    ratings: int = 0


@dataclass(eq=False)
class Procedure:
    iri: str
    label: str
    first: Row
    table: Table
    known: bool


@dataclass(eq=False)
class Name:
    iri: str
    procedure: Procedure
    text: str
    revisions: list[Revision] = field(default_factory=list)


@dataclass(eq=False)
class Rating:
    iri: str
    variant: Variant
    procedure: Procedure
    values: tuple  # (category, median, soe, adult RRL, pediatric RRL)
    row: Row
    table: Table


@dataclass
class Assembly:
    tables: list[Table] = field(default_factory=list)
    panels: dict[str, Panel] = field(default_factory=dict)
    topics: dict[str, Topic] = field(default_factory=dict)
    revisions: dict[str, Revision] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    procedures: dict[str, Procedure] = field(default_factory=dict)  # by name key
    names: dict[tuple[str, str], Name] = field(default_factory=dict)  # (procedure IRI, text)
    ratings: dict[tuple[str, str], Rating] = field(default_factory=dict)  # (variant IRI, procedure IRI)
    findings: list[Finding] = field(default_factory=list)
    rows: int = 0


def _expand(curie: str, where: Path | str) -> str:
    prefix, sep, local = str(curie).partition(":")
    if not sep or prefix not in PREFIXES:
        raise InputError(f"{curie!r} is not a CURIE of a known prefix ({', '.join(PREFIXES)})", source=str(where))
    return PREFIXES[prefix] + local


def read_sidecar(table: Path, catalogue: Catalogue) -> Curated | None:
    path = table.with_name(table.stem + SIDECAR_SUFFIX)
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"YAML syntax error: {exc}", source=str(path), line=mark.line + 1 if mark else None) from exc
    missing = [k for k in ("sources", "revision", "activity") if not data.get(k)]
    if missing:
        raise InputError(f"the sidecar needs {', '.join(missing)}", source=str(path))
    revision = _expand(data["revision"], path)
    if revision not in catalogue.revisions:
        raise InputError(f"revision {data['revision']} is not a topic revision of the knowledge base", source=str(path))
    return Curated(tuple(_expand(s, path) for s in data["sources"]), revision, _expand(data["activity"], path))


def _score(row: Row, column: str, found: list[Finding]) -> int | None:
    text = row.values.get(column, "")
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is None or not number.is_integer() or not 1 <= number <= 9:
        found.append(finding("bad-score", row, f"{text!r} is not a whole number from 1 to 9", column))
        return None
    return int(number)


def _new_iri(stem: str, name_key: str, taken: set[str]) -> str:
    iri = ACRKB + stem
    if iri in taken:  # two names with one slug: the later one is told apart by a digest of its name
        iri = f"{iri}-{hashlib.sha1(name_key.encode()).hexdigest()[:6]}"
    taken.add(iri)
    return iri


class Assembler:
    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self.out = Assembly()
        self._taken = set(catalogue.iris)

    def add_table(self, path: Path, *, edition: dt.date | None, source_name: str | None) -> None:
        path = Path(path)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc
        table = Table(path, digest, read_sidecar(path, self.catalogue), edition, source_name or path.name)
        self.out.tables.append(table)
        if edition is None and table.curated is None:
            self.out.findings.append(finding("no-edition", None, "revisions of this table are 'undated'",
                                             file=str(path)))
        for row in read_table(path):
            self.out.rows += 1
            self._row(table, row)

    # --- one row -----------------------------------------------------------------------------------

    def _clean(self, row: Row) -> dict[str, str]:
        values = {}
        for column, raw in row.values.items():
            value, changed = clean.strip_link_text(raw)
            if changed:
                self.out.findings.append(finding("link-text", row, f"{raw!r} read as {value!r}", column))
            values[column] = clean.squeeze(value)
        title = values.get("topic", "")
        if title and not title.isdigit():
            stripped, changed = clean.strip_title_junk(title)
            if changed:
                self.out.findings.append(finding("title-junk", row, f"{title!r} read as {stripped!r}", "topic"))
            values["topic"] = stripped
        return values

    def _row(self, table: Table, row: Row) -> None:
        found = self.out.findings
        values = self._clean(row)
        topic = self._topic(table, row, values)
        if topic is None:
            return
        self._panel(table, row, values, topic)
        variant = self._variant(table, row, values, topic)
        if variant is None:
            return
        procedure_text, category_text = values.get("procedure", ""), values.get("category", "")
        if not procedure_text:
            if category_text:
                found.append(finding("missing-value", row, "a category but no procedure", "procedure"))
            return  # a row that only names its variant
        if not category_text:
            found.append(finding("missing-value", row, "no appropriateness category", "category"))
            return
        category = self.catalogue.category(category_text)
        if category is None:
            found.append(finding("unknown-category", row, f"{category_text!r} is not an appropriateness category",
                                 "category"))
            return
        median, rating = _score(row, "median", found), _score(row, "rating", found)
        if median is None:
            if rating is None:
                found.append(finding("no-median", row, "neither Median nor Rating: row not imported", "median",
                                     level="ERROR"))
                return
            found.append(finding("no-median", row, f"no median; the Rating {rating} is used", "median"))
            median = rating
        found.extend(score_findings(row, category, median, rating))
        soe = self._soe(row, values)
        adult, peds = self._level(row, values, "adult_rrl"), self._level(row, values, "peds_rrl")
        procedure = self._procedure(table, row, procedure_text)
        self._rating(table, row, variant, procedure, procedure_text, (category.iri, median, soe, adult, peds))

    def _topic(self, table: Table, row: Row, values: dict[str, str]) -> Topic | None:
        title, id_text = values.get("topic", ""), values.get("topic_id", "")
        if not id_text and title.isdigit():
            id_text, title = title, ""
        if id_text and not id_text.isdigit():
            self.out.findings.append(finding("missing-value", row, f"topic id {id_text!r} is not a number", "topic_id"))
            return None
        topic_id = int(id_text) if id_text else None
        if topic_id is None and not title:
            self.out.findings.append(finding("missing-value", row, "no topic title or id",
                                             "topic" if "topic" in row.sheet.columns else "topic_id"))
            return None
        key = f"id:{topic_id}" if topic_id is not None else f"title:{clean.key(title)}"
        topic = self.out.topics.get(key)
        if topic is None:
            known = self.catalogue.topics.get(topic_id) if topic_id is not None else None
            stem = f"topic-{topic_id}" if topic_id is not None else f"topic-{clean.slug(title)}"
            iri = known or _new_iri(stem, key, self._taken)
            topic = Topic(iri, topic_id, title or None, row, table, known is not None,
                          dict.fromkeys(self.catalogue.topic_panels.get(iri, ()), row))
            self.out.topics[key] = topic
        return topic

    def _panel(self, table: Table, row: Row, values: dict[str, str], topic: Topic) -> None:
        text = values.get("panel", "")
        if not text:
            self.out.findings.append(finding("missing-panel", row, "no panel named", "panel"))
            return
        name_key = clean.key(re.sub(r"\s*panel$", "", text, flags=re.IGNORECASE))
        panel = self.out.panels.get(name_key)
        if panel is None:
            known = self.catalogue.panels.get(name_key)
            iri = known or _new_iri(f"panel-{clean.slug(text)}", name_key, self._taken)
            panel = Panel(iri, self.catalogue.panel_labels.get(iri, text), row, table, known is not None)
            self.out.panels[name_key] = panel
        if panel.iri in topic.panels:
            return
        if topic.panels:
            first_iri, first_row = next(iter(topic.panels.items()))
            first = next((p.label for p in self.out.panels.values() if p.iri == first_iri),
                         self.catalogue.panel_labels.get(first_iri, first_iri))
            self.out.findings.append(finding(
                "multi-panel-topic", row, f"topic {topic.topic_id or topic.title} is listed under {text!r} here and "
                f"under {first!r} (row {first_row.number}): one topic with both panels", "panel"))
        topic.panels[panel.iri] = row
        topic.new_panels.append(panel.iri)

    def _revision(self, table: Table, row: Row, topic: Topic) -> Revision:
        if table.curated:
            iri = table.curated.revision
        else:
            iri = f"{topic.iri}-rev-{table.edition.isoformat() if table.edition else 'undated'}"
        revision = self.out.revisions.get(iri)
        if revision is None:
            known = iri in self.catalogue.revisions
            edition = table.edition if not table.curated else None
            label = self.catalogue.revisions.get(iri) or (
                f"topic {topic.topic_id or topic.title}, {'edition ' + edition.isoformat() if edition else 'undated edition'}")
            revision = Revision(iri, topic, label, edition, row, table, known)
            self.out.revisions[iri] = revision
        return revision

    def _variant(self, table: Table, row: Row, values: dict[str, str], topic: Topic) -> Variant | None:
        text, number_text = values.get("variant", ""), values.get("variant_number", "")
        match = _VARIANT.match(text)
        if match:
            number_text, text = number_text or match.group(1), match.group(2).strip()
        elif text.isdigit():
            number_text, text = number_text or text, ""
        if not number_text.isdigit() or int(number_text) < 1:
            column = "variant_number" if "variant_number" in row.sheet.columns else "variant"
            self.out.findings.append(finding("missing-value", row, "no variant number (write 'Variant 3: ...' "
                                             "or give a Variant Number column)", column))
            return None
        number = int(number_text)
        variant_key = f"{topic.iri}#{number}"
        variant = self.out.variants.get(variant_key)
        if variant is None:
            known = self.catalogue.variants.get((topic.iri, number))
            iri = known or _new_iri(f"variant-{topic.key}-{number}", variant_key, self._taken)
            variant = Variant(iri, topic, number, text, self._revision(table, row, topic), row, table, known is not None)
            self.out.variants[variant_key] = variant
        elif text and variant.text and clean.key(text) != clean.key(variant.text) and not variant.known:
            self.out.findings.append(finding("variant-wording-differs", row,
                                             f"variant {number} reads differently from row {variant.first.number}",
                                             "variant"))
        elif text and not variant.text:
            variant.text = text
        return variant

    def _soe(self, row: Row, values: dict[str, str]) -> str | None:
        text = values.get("soe", "")
        if not text:
            return None
        soe = self.catalogue.soe(text)
        if soe is None:
            self.out.findings.append(finding("unknown-soe", row, f"{text!r} is not a strength of evidence", "soe"))
        return soe

    def _level(self, row: Row, values: dict[str, str], column: str) -> str | None:
        text = values.get(column, "")
        if not text:
            return None
        level, problem = self.catalogue.level(text, pediatric=column == "peds_rrl")
        if level is None:
            self.out.findings.append(finding("unknown-rrl", row, f"{text!r} is not a relative radiation level", column))
            return None
        if problem:
            self.out.findings.append(finding("rrl-band", row, problem, column))
        return level.iri

    def _procedure(self, table: Table, row: Row, text: str) -> Procedure:
        name_key = clean.key(text)
        procedure = self.out.procedures.get(name_key)
        if procedure is None:
            known = self.catalogue.procedures.get(name_key)
            if known:
                procedure = Procedure(known, self.catalogue.procedure_labels.get(known, text), row, table, True)
            else:
                procedure = Procedure(_new_iri(f"proc-{clean.slug(text)}", name_key, self._taken), text, row, table,
                                      False)
                self.out.findings.append(finding("unmatched-procedure", row, f"{text!r} matches no procedure of the "
                                                 f"catalogue; new procedure {procedure.iri}", "procedure"))
            self.out.procedures[name_key] = procedure
        return procedure

    def _rating(self, table: Table, row: Row, variant: Variant, procedure: Procedure, name_text: str,
                values: tuple) -> None:
        found = self.out.findings
        pair = (variant.iri, procedure.iri)
        earlier = self.out.ratings.get(pair)
        if earlier is not None:
            if earlier.values == values:
                found.append(finding("exact-duplicate", row, f"same rating as row {earlier.row.number}", "procedure"))
            else:
                changed = [name for name, a, b in zip(("category", "median", "SOE", "adult RRL", "peds RRL"),
                                                      earlier.values, values) if a != b]
                found.append(finding("conflicting-duplicate", row, f"rates {procedure.label!r} for variant "
                                     f"{variant.number} like row {earlier.row.number}, but with another "
                                     f"{', '.join(changed)}; row {earlier.row.number} is kept", "procedure"))
            return
        known = self.catalogue.ratings.get(pair)
        if known is not None:
            variant.ratings += 1
            same = known.values == values
            found.append(finding("in-knowledge-base" if same else "differs-from-knowledge-base", row,
                                 f"the knowledge base rates {procedure.label!r} for this variant as {known.iri}"
                                 + ("" if same else " with other values"), "procedure"))
            return
        revision = variant.revision
        if (procedure.iri, revision.iri) not in self.catalogue.named_in:
            name = self.out.names.get((procedure.iri, name_text))
            if name is None:
                stem = procedure.iri.removeprefix(ACRKB).removeprefix("proc-")
                digest = hashlib.sha1(name_text.encode()).hexdigest()[:8]
                name = Name(f"{ACRKB}name-{stem}-{digest}", procedure, name_text)
                self.out.names[(procedure.iri, name_text)] = name
            if revision not in name.revisions:
                name.revisions.append(revision)
        stem = procedure.iri.removeprefix(ACRKB).removeprefix("proc-")
        iri = f"{ACRKB}rating-{variant.topic.key}-{variant.number}-{stem}"
        self.out.ratings[pair] = Rating(iri, variant, procedure, values, row, table)
        variant.ratings += 1

    # --- after the last row ------------------------------------------------------------------------

    def finish(self) -> Assembly:
        rated = {variant for variant, _ in self.catalogue.ratings}
        for variant in self.out.variants.values():
            if variant.ratings == 0 and variant.iri not in rated:
                self.out.findings.append(finding("variant-without-ratings", variant.first,
                                                 f"variant {variant.number} of topic "
                                                 f"{variant.topic.topic_id or variant.topic.title} has no rating",
                                                 "variant" if "variant" in variant.first.sheet.columns
                                                 else "variant_number"))
        return self.out
