"""The report of an import: what was cleaned and what is wrong with the tables, at file, row and column.

Levels follow `acr-kg check`: ERROR (the row, or the fact it states, cannot be trusted), WARN (imported,
but look at it), INFO (cleaned or noted). ``CHECKS`` gives each check its level and its meaning; the
README lists them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from kg.issues import GradedFindings
from kg.kb.tables.catalogue import Category
from kg.kb.tables.reader import Row

LEVELS = ("ERROR", "WARN", "INFO")

CHECKS: dict[str, tuple[str, str]] = {
    # cleaning
    "link-text": ("INFO", "link text glued to a value (e.g. 'StrongReferences') was removed"),
    "title-junk": ("INFO", "footnote marks, link words or punctuation at the end of a title were removed"),
    "multi-panel-topic": ("INFO", "a topic is listed under more than one panel: one topic, one panel link each"),
    "exact-duplicate": ("INFO", "a row repeats an earlier row's rating exactly; it is imported once"),
    "conflicting-duplicate": ("ERROR", "a row rates the same procedure for the same variant as an earlier row, "
                                       "with other values; the earlier row is kept"),
    # values
    "missing-value": ("ERROR", "a row lacks the topic, variant, procedure or category; it is not imported"),
    "unknown-category": ("ERROR", "the appropriateness category is none of the four; the row is not imported"),
    "bad-score": ("ERROR", "a Median or Rating cell is not a whole number from 1 to 9; it is ignored"),
    "no-median": ("WARN", "no median: the Rating is used (ERROR, and the row is not imported, when both are empty)"),
    "median-outside-band": ("ERROR", "the median lies outside its category's band"),
    "disagreement-median": ("ERROR", "a 'May be appropriate (Disagreement)' rating whose median is not 5"),
    "rating-differs-from-median": ("WARN", "the Rating column differs from the Median column (the median is kept)"),
    "unknown-soe": ("WARN", "the strength of evidence is none of the five; the rating is imported without it"),
    "unknown-rrl": ("WARN", "a radiation level string names no level; the rating is imported without it"),
    "rrl-band": ("WARN", "the dose band written after a radiation symbol is not that level's band"),
    "missing-panel": ("WARN", "a row names no panel"),
    "variant-wording-differs": ("WARN", "a variant's wording differs from its first row's; the first is kept"),
    # the whole
    "variant-without-ratings": ("WARN", "a variant has no rating, so it recommends nothing"),
    "unmatched-procedure": ("INFO", "a procedure name matches nothing in our catalogue; a new procedure is made"),
    "in-knowledge-base": ("INFO", "the knowledge base already holds this rating with the same values; not repeated"),
    "differs-from-knowledge-base": ("WARN", "the knowledge base holds this rating with other values; "
                                           "the knowledge base's rating is kept"),
    "no-edition": ("INFO", "no --edition was given, so revisions are 'undated'"),
}


@dataclass(frozen=True)
class Finding:
    level: str
    check: str
    where: str  # file[sheet]:row, column 'Header' (letter)
    message: str
    file: str
    sheet: str | None
    row: int | None
    column: str | None  # our column key


def finding(check: str, row: Row | None, message: str, column: str | None = None, *, level: str | None = None,
            file: str = "") -> Finding:
    level = level or CHECKS[check][0]
    if row is None:
        return Finding(level, check, file, message, file, None, None, None)
    where = row.sheet.where(row.number, column if column in row.sheet.columns else None)
    return Finding(level, check, where, message, row.sheet.file, row.sheet.name, row.number, column)


def score_findings(row: Row, category: Category, median: int, rating: int | None) -> list[Finding]:
    """The checks of one rating's numbers against its category."""
    found = []
    if rating is not None and rating != median:
        found.append(finding("rating-differs-from-median", row, f"Rating {rating} but Median {median}", "rating"))
    if category.minimum == category.maximum:
        if median != category.minimum:
            found.append(finding("disagreement-median", row,
                                 f"category {category.label!r} has median {median}, not {category.minimum}", "median"))
    elif not category.minimum <= median <= category.maximum:
        found.append(finding("median-outside-band", row, f"median {median} is outside the band of "
                             f"{category.label!r} ({category.minimum} to {category.maximum})", "median"))
    return found


@dataclass
class Report(GradedFindings):
    tables: list[str]
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # ratings, topics, variants, procedures written
    findings: list[Finding] = field(default_factory=list)

    def by_check(self) -> dict[str, int]:
        return dict(sorted(Counter(f.check for f in self.findings).items()))

    def sort(self) -> None:
        self.findings.sort(key=lambda f: (LEVELS.index(f.level), f.check, f.file, f.sheet or "", f.row or 0))

    def to_dict(self) -> dict:
        return {"passed": self.passed, "tables": self.tables, "rows": self.rows, "written": self.counts,
                "by_check": self.by_check(), "findings": [asdict(f) for f in self.findings]}

    def text(self) -> str:
        rows = [(f.level, f.check, f.where, f.message) for f in self.findings]
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(("LEVEL", "CHECK"))]
        lines = [f"{'LEVEL'.ljust(widths[0])}  {'CHECK'.ljust(widths[1])}  WHERE: MESSAGE"]
        lines += [f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}: {r[3]}" for r in rows]
        levels = Counter(f.level for f in self.findings)
        lines.append("")
        lines.append(f"tables: {len(self.tables)}; rows read: {self.rows}; written: "
                     + ", ".join(f"{n} {what}" for what, n in self.counts.items()) + "; "
                     + ", ".join(f"{levels.get(level, 0)} {level}" for level in LEVELS))
        return "\n".join(lines)
