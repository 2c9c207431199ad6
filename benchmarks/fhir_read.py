"""Benchmark: FHIR R4 records read and answered, warm, in process (kg.input.fhir + validate + recommend).

For each Synthea bundle of ../shared/fixtures/synthea-r4 (1.1-3.4 MB) and the Bulk Data folder, prints
the median and maximum of N warm runs of: reading the record (JSON, R4 check of the mapped resources,
the SPARQL mapping rules) as a record new to the process (the reader's memory of resources checked and
records mapped emptied first) and again as one it has just read (what a CDS service sees when order-sign
follows order-select); and reading plus validation and recommendation of a new record; beside them, as the
baseline in the same run, the same record's patient graph written as Turtle and read by the Turtle reader.
Target: a 3.4 MB bundle read and answered in under 1 s warm.

    python benchmarks/fhir_read.py [--runs 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyoxigraph as ox  # noqa: E402

from kg.input import parse_patient  # noqa: E402
from kg.input.fhir import mapping, read_fhir, records  # noqa: E402
from kg.recommend import Engine  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures"
CASES = [  # (input, evaluation date, order): the dates of tests/test_fhir.py
    (FIXTURES / "synthea-r4" / "triple_negative.json", dt.date(1972, 1, 5), "LOINC:80852-7"),
    (FIXTURES / "synthea-r4" / "T1_patient.json", dt.date(2005, 6, 1), "LOINC:80852-7"),
    (FIXTURES / "synthea-r4" / "T0_patient.json", dt.date(2015, 5, 1), "LOINC:80852-7"),
    (FIXTURES / "bulk-fhir-10-patients", dt.date(2024, 8, 6), "LOINC:80852-7"),
]


def _forget() -> None:
    """Empty the reader's memory of resources checked and records mapped (kept by content)."""
    records._r4_problem.cache_clear()
    mapping._MAPPED_RECORDS.clear()


def _timed(work, runs: int, *, new: bool = False) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        if new:
            _forget()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not FIXTURES.is_dir():
        sys.exit(f"{FIXTURES} is absent")
    engine = Engine()
    print(f"{'input':40} {'size':>8} {'read new (med/max)':>19} {'read again':>16} {'new: read+answer':>17} "
          f"{'Turtle baseline':>16}")
    for path, now, order in CASES:
        size = sum(p.stat().st_size for p in path.glob("*.ndjson")) if path.is_dir() else path.stat().st_size
        data = read_fhir(path, now=now, order=order)  # warm-up: models, queries, knowledge base
        engine.recommend_many(data)
        read = _timed(lambda: read_fhir(path, now=now, order=order), args.runs, new=True)
        again = _timed(lambda: read_fhir(path, now=now, order=order), args.runs)
        answer = _timed(lambda: engine.recommend_many(read_fhir(path, now=now, order=order)), args.runs, new=True)
        turtle = [ox.serialize(d.quads, format=ox.RdfFormat.N_QUADS) for d in data]
        baseline = _timed(lambda: engine.recommend_many([parse_patient(t, "twin.nt", "ntriples") for t in turtle]), args.runs)
        print(f"{path.name:40} {size / 1e6:7.2f}M {read[0]:10.3f}/{read[1]:.3f}s {again[0]:7.3f}/{again[1]:.3f}s "
              f"{answer[0]:8.3f}/{answer[1]:.3f}s {baseline[0]:7.3f}/{baseline[1]:.3f}s")


if __name__ == "__main__":
    main()
