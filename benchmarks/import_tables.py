"""Benchmark of `acr-kg import`: a generated table of 16,000 rated rows (the size of the whole ACR
criteria), as XLSX and as CSV, imported and checked (the tables' QC report) against the target of 10 s.

Each import runs in a process of its own, so that its peak memory (max RSS) is its own. The time covers
everything `acr-kg import` does: reading the catalogue, reading and cleaning the table, the QC report,
and writing the knowledge base directory.

    python benchmarks/import_tables.py [--rows 16000] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 10.0


def run_one(path: Path, out: Path) -> dict:
    from kg.kb.tables import import_tables

    start = time.perf_counter()
    result = import_tables([path], out=out)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rows": result.report.rows, "written": result.report.counts, "findings": len(result.report.findings)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)  # the child process: one import
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run, args.out)))
        return 0

    from kg.kb.tables import catalogue
    from kg.kb.tables.synthetic import generate

    with tempfile.TemporaryDirectory() as tmp:
        table = generate(args.rows, catalogue.load(), seed=args.seed)
        paths = [table.write_xlsx(Path(tmp) / "ratings.xlsx"), table.write_csv(Path(tmp) / "ratings.csv")]
        print(f"{args.rows} rows; planted anomalies: {sum(len(r) for r in table.planted.values())}")
        slow = False
        for path in paths:
            child = subprocess.run([sys.executable, __file__, "--run", str(path), "--out", f"{tmp}/kb-{path.suffix[1:]}"],
                                   capture_output=True, text=True, check=True)
            figures = json.loads(child.stdout)
            slow |= figures["seconds"] > TARGET_SECONDS
            written = figures["written"]
            print(f"{path.suffix[1:].upper():<5} {figures['seconds']:6.2f} s  max RSS {figures['max_rss_mb']:6.0f} MB  "
                  f"{written['ratings']} ratings, {written['variants']} variants, {written['topics']} topics, "
                  f"{written['triples']} triples; {figures['findings']} findings "
                  f"(target <= {TARGET_SECONDS:.0f} s)")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
