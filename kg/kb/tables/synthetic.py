"""Synthetic rating tables for the tests and the benchmark: no ACR content, every anomaly at a known row.

Topics are numbered from 9001 and called "Synthetic topic N"; procedures are our catalogue's, so clean
rows match it; values are drawn at random but always consistent (a median inside its category's band,
a radiation string with its level's band). ``generate`` then plants each anomaly the importer must
find and records its row; every other row is clean, with the values it must import as.
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

from kg.kb.tables.catalogue import Catalogue, Category, Level

HEADER = ["Panel", "Topic ID", "Topic", "Variant", "Procedure", "Appropriateness Category", "SOE", "Adult RRL",
          "Peds RRL", "Rating", "Median"]
PANEL, TOPIC_ID, TOPIC, VARIANT, PROCEDURE, CATEGORY, SOE, ADULT, PEDS, RATING, MEDIAN = range(len(HEADER))
FIRST_TOPIC = 9001
UNMATCHED = "Synthetic examination of the left elbow"


@dataclass
class Expected:
    """What a clean row must import as."""

    topic_id: int
    variant: int
    procedure: str  # procedure IRI
    values: tuple  # (category, median, soe, adult RRL, pediatric RRL) IRIs and the median


@dataclass
class SyntheticTable:
    rows: list[list[str]]  # data rows; rows[i] is spreadsheet row i + 2 (the header is row 1)
    planted: dict[str, list[int]] = field(default_factory=dict)  # check -> rows where it was planted
    expected: dict[int, Expected] = field(default_factory=dict)  # row -> values, for clean rows

    def write_csv(self, path: Path, *, delimiter: str = ",") -> Path:
        with Path(path).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(self.rows)
        return Path(path)

    def write_xlsx(self, path: Path, *, sheet: str = "Ratings") -> Path:
        import openpyxl

        workbook = openpyxl.Workbook(write_only=True)
        worksheet = workbook.create_sheet(sheet)
        worksheet.append(HEADER)
        for row in self.rows:
            # Scores as numbers, as a spreadsheet holds them.
            worksheet.append([int(v) if i in (TOPIC_ID, RATING, MEDIAN) and v.isdigit() else v
                              for i, v in enumerate(row)])
        workbook.save(path)
        return Path(path)


def _band(value) -> str:
    return format(value.normalize(), "f")


def rrl_text(level: Level, *, pediatric: bool) -> str:
    """The ACR's way of writing a level: symbol and dose band, '[ped]' for children."""
    band = level.pediatric if pediatric else level.adult
    if band is None:
        return level.symbol
    low, high = band
    dose = "0 mSv" if high == 0 else (f"<{_band(high)} mSv" if low == 0 else f"{_band(low)}-{_band(high)} mSv")
    return f"{level.symbol} {dose}" + (" [ped]" if pediatric else "")


def generate(size: int, catalogue: Catalogue, *, seed: int = 0, anomalies: bool = True) -> SyntheticTable:
    """A table of exactly ``size`` data rows (at least 200 when anomalies are planted)."""
    rng = random.Random(seed)
    categories = sorted({c.iri: c for c in catalogue.categories.values()}.values(), key=lambda c: c.iri)
    disagreement = next(c for c in categories if c.minimum == c.maximum)
    graded = [c for c in categories if c is not disagreement]
    evidence = sorted(catalogue.evidence.items())
    expert_opinion = next(iri for k, iri in evidence if k == "expert opinion")
    levels = sorted((lvl for lvl in catalogue.levels.values() if lvl.adult is not None), key=lambda lvl: lvl.iri)
    procedures = sorted(catalogue.procedure_labels.items())
    table = SyntheticTable([])
    topic_id = FIRST_TOPIC - 1
    while len(table.rows) < size:
        topic_id += 1
        panel = f"Synthetic panel {chr(65 + topic_id % 8)}"
        for number in range(1, rng.randint(3, 6) + 1):
            text = f"Variant {number}: Synthetic scenario {number} of topic {topic_id}, adult, initial imaging."
            for iri, label in rng.sample(procedures, rng.randint(8, min(16, len(procedures)))):
                if len(table.rows) == size:
                    break
                category: Category = disagreement if rng.random() < 0.03 else rng.choice(graded)
                median = rng.randint(category.minimum, category.maximum)
                soe_key, soe = (("expert opinion", expert_opinion) if category is disagreement
                                else rng.choice(evidence))
                adult = rng.choice(levels)
                peds = adult if rng.random() < 0.7 else None
                row_number = len(table.rows) + 2
                table.rows.append([panel, str(topic_id), f"Synthetic topic {topic_id}", text, label, category.label,
                                   soe_key.title(), rrl_text(adult, pediatric=False),
                                   rrl_text(peds, pediatric=True) if peds else "", str(median), str(median)])
                table.expected[row_number] = Expected(topic_id, number, iri, (
                    category.iri, median, soe, adult.iri, peds.iri if peds else None))
    if anomalies:
        _plant(table, catalogue, disagreement)
    return table


def _plant(table: SyntheticTable, catalogue: Catalogue, disagreement: Category) -> None:
    rows, expected = table.rows, table.expected
    usually = next(c for c in catalogue.categories.values() if c.minimum == 7)
    slots = iter(range(len(rows) // 40, len(rows), len(rows) // 24))

    def slot(same_variant_as_previous: bool = False) -> int:
        """The next planting row (a spreadsheet row number), clean, and optionally with a clean row
        of the same variant just above it."""
        for index in slots:
            number = index + 2
            if same_variant_as_previous:
                while rows[index - 1][VARIANT] != rows[index][VARIANT] or number - 1 not in expected:
                    index, number = index + 1, number + 1
            return number
        raise ValueError("the table is too small to plant every anomaly")

    def plant(check: str, number: int, *, clean: bool = False) -> list[str]:
        table.planted.setdefault(check, []).append(number)
        if not clean:
            expected.pop(number, None)
        return rows[number - 2]

    row = plant("link-text", slot(), clean=True)
    row[SOE] += "References"
    row = plant("link-text", slot(), clean=True)
    row[CATEGORY] += "References"
    row = plant("title-junk", slot(), clean=True)
    row[TOPIC] += " *"
    row = plant("multi-panel-topic", slot(same_variant_as_previous=True), clean=True)
    row[PANEL] = "Synthetic panel Z"
    number = slot(same_variant_as_previous=True)
    rows[number - 2] = list(rows[number - 3])
    plant("exact-duplicate", number)
    number = slot(same_variant_as_previous=True)
    rows[number - 2] = list(rows[number - 3])
    row = plant("conflicting-duplicate", number)
    category = next(c for c in catalogue.categories.values() if c.label == row[CATEGORY])
    other = next(m for m in range(category.minimum, category.maximum + 1) if str(m) != row[MEDIAN]) \
        if category.minimum != category.maximum else None
    if other is None:  # a disagreement row has one possible median; change its radiation level instead
        row[ADULT] = "O 0 mSv" if not row[ADULT].startswith("O") else "☢ <0.1 mSv"
    else:
        row[MEDIAN] = row[RATING] = str(other)
    row = plant("median-outside-band", slot())
    row[CATEGORY], row[MEDIAN], row[RATING] = usually.label, "2", "2"
    row = plant("no-median", slot())
    row[MEDIAN] = ""
    row = plant("rating-differs-from-median", slot())
    row[CATEGORY], row[MEDIAN], row[RATING] = usually.label, "8", "7"
    row = plant("disagreement-median", slot())
    row[CATEGORY], row[MEDIAN], row[RATING], row[SOE] = disagreement.label, "6", "6", "Expert Opinion"
    row = plant("unknown-soe", slot())
    row[SOE] = "Very strong"
    row = plant("unknown-rrl", slot())
    row[ADULT] = "☢☢☢☢☢☢ 100-300 mSv"
    row = plant("rrl-band", slot())
    row[ADULT] = "☢☢ 1-10 mSv"
    row = plant("unknown-category", slot())
    row[CATEGORY] = "Rarely appropriate"
    row = plant("bad-score", slot())
    row[MEDIAN] = "12"
    row = plant("unmatched-procedure", slot())
    row[PROCEDURE] = UNMATCHED
    row = plant("variant-without-ratings", slot())
    row[VARIANT] = f"Variant 99: Synthetic scenario without any rated procedure of topic {row[TOPIC_ID]}."
    row[PROCEDURE:] = [""] * (len(HEADER) - PROCEDURE)
