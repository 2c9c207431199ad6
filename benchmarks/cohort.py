"""Cohort benchmark: `run_cohort` over synthetic populations, against the naive path in the same run.

The population (kg.synthetic.cohort_case): order dates spread over a year; 30 % variant 7 with 1-3
ultrasound nodes, 30 % other variants, 30 % no variant, 10 % invalid. For each N it prints wall time,
patients/s and peak memory (largest process: the parent or a worker). The naive path is what a user
would write: rdflib + pySHACL + rdflib's SPARQL engine, the same shapes and queries, one patient at a
time (Engine(backend="rdflib", validation="pyshacl")), on a sample. Targets (2 cores): 100,000 Turtle
patients in <= 40 s (>= 2,500/s), peak memory <= 2 GB, >= 1,000x the naive path.

    python benchmarks/cohort.py [--sizes 1000 10000 100000] [--workers 2] [--naive 10] [--fhir-patients 10000]
                                [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.cohort import run_cohort  # noqa: E402
from kg.input import parse_patient  # noqa: E402
from kg.recommend import Engine, Request  # noqa: E402
from kg.synthetic import case_turtle, cohort_case  # noqa: E402


def generate(folder: Path, n: int, seed: int = 2026) -> list[Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"patient-{i:06d}.ttl"
        path.write_text(case_turtle(cohort_case(rng), f"https://example.org/cohort/{i}"))
        paths.append(path)
    return paths


def peak_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def naive(paths: list[Path]) -> float:
    """Patients per second of the naive path, one patient at a time."""
    engine = Engine(backend="rdflib", validation="pyshacl")
    engine.evaluate([Request(parse_patient(paths[0].read_bytes(), str(paths[0])))])  # warm caches
    start = time.perf_counter()
    for path in paths:
        engine.evaluate([Request(parse_patient(path.read_bytes(), str(path)))])
    return len(paths) / (time.perf_counter() - start)


def profile(folder: Path) -> None:
    """Where the time of one in-process chunk goes (cumulative, top entries)."""
    from kg.cohort.chunks import evaluate_items, shared
    from kg.cohort.inputs import items

    chunk = list(items([str(folder)]))[:2000]
    shared()
    profiler = cProfile.Profile()
    profiler.enable()
    evaluate_items(chunk)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--naive", type=int, default=10, help="sample size for the naive path")
    parser.add_argument("--profile", action="store_true", help="print where the time of one chunk goes")
    parser.add_argument("--spark", type=int, default=0, metavar="N",
                        help="also run N patients (as JSON Lines) on Spark in local mode with --workers cores")
    parser.add_argument("--fhir-patients", type=int, default=10_000,
                        help="patients of the replicated Bulk FHIR export (0: skip)")
    args = parser.parse_args()
    figures: dict = {"workers": args.workers, "runs": []}
    with tempfile.TemporaryDirectory(prefix="acr-kg-cohort-") as temporary:
        base = Path(temporary)
        paths = generate(base / "patients", max(args.sizes))
        for n in sorted(args.sizes):
            folder = base / f"n{n}"
            folder.mkdir()
            for path in paths[:n]:
                (folder / path.name).symlink_to(path)
            start = time.perf_counter()
            summary = run_cohort([str(folder)], out=base / f"out-{n}", workers=args.workers, progress=False)
            wall = time.perf_counter() - start
            own, child = peak_mb()
            run = {"patients": n, "seconds": round(wall, 2), "patients_per_s": round(n / wall),
                   "peak_mb_parent": round(own), "peak_mb_worker": round(child),
                   "valid": summary["valid"], "invalid": summary["invalid"], "errors": summary["errors"],
                   "variants": summary["variants"]}
            figures["runs"].append(run)
            print(f"N={n:>7}: {wall:7.1f} s  {n / wall:7.0f} patients/s  peak memory parent {own:.0f} MB, "
                  f"largest worker {child:.0f} MB  (valid {summary['valid']}, invalid {summary['invalid']}, "
                  f"errors {summary['errors']})", flush=True)
        rate = naive(paths[:args.naive])
        best = max(r["patients_per_s"] for r in figures["runs"])
        figures |= {"naive_patients_per_s": rate, "ratio_to_naive": best / rate}
        print(f"naive path (rdflib + pySHACL + rdflib SPARQL, one at a time, {args.naive} patients): "
              f"{rate:.2f} patients/s; cohort / naive: {best / rate:,.0f}x")
        if args.spark:
            print("Spark local mode:", spark_run(paths[:args.spark], base / "spark", args.workers), flush=True)
        fhir = ROOT.parent / "shared" / "fixtures" / "bulk-fhir-10-patients"
        if not fhir.is_dir() or not args.fhir_patients:
            print(f"Bulk FHIR fixture: skipped ({fhir} absent or --fhir-patients 0)")
        else:
            print("Bulk FHIR fixture replicated with fresh ids:",
                  fhir_run(fhir, base / "fhir", args.workers, args.fhir_patients), flush=True)
        if args.profile:
            profile(base / f"n{min(args.sizes)}")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "cohort.json").write_text(json.dumps(figures, indent=2) + "\n")


def spark_run(paths: list[Path], folder: Path, workers: int) -> str:
    """The same patients as one JSON Lines file, on Spark (session start-up not counted)."""
    from kg.cohort.spark import run_spark, session

    folder.mkdir()
    lines = folder / "patients.jsonl"
    with lines.open("w") as out:
        for path in paths:
            out.write(json.dumps({"id": path.stem, "turtle": path.read_text()}) + "\n")
    spark = session(workers=workers)
    start = time.perf_counter()
    summary = run_spark([str(lines)], out=folder / "out", spark=spark)
    wall = time.perf_counter() - start
    spark.stop()
    return f"{summary['inputs']} patients in {wall:.1f} s, {summary['inputs'] / wall:.0f} patients/s"


def fhir_run(fixture: Path, folder: Path, workers: int, patients: int = 10_000) -> str:
    """The fixture's patients replicated with fresh ids (every id and reference renamed per copy) until
    there are ``patients``; each copy's resources stay with their own patient."""
    folder.mkdir()
    texts = {path.name: path.read_text() for path in fixture.glob("*.ndjson") if path.name != "log.ndjson"}
    ids = sorted({json.loads(line)["id"] for line in texts.get("Patient.000.ndjson", "").splitlines() if line.strip()})
    if not ids:
        return "skipped, no Patient resources"
    wanted = [(copy, patient) for copy in range(-(-patients // len(ids))) for patient in ids][:patients]
    copies: dict[int, set[str]] = {}
    for copy, patient in wanted:
        copies.setdefault(copy, set()).add(patient)
    for name, text in texts.items():
        lines = [line for line in text.splitlines() if line.strip()]
        with (folder / name).open("w") as out:
            for copy, kept in copies.items():
                for line in lines:
                    owners = [patient for patient in ids if patient in line]
                    if owners and not set(owners) <= kept:
                        continue
                    for patient in owners:
                        line = line.replace(patient, f"{patient}-{copy}")
                    out.write(line + "\n")
    start = time.perf_counter()
    summary = run_cohort([str(folder)], out=folder.parent / "fhir-out", workers=workers, progress=False)
    wall = time.perf_counter() - start
    return (f"{summary['inputs']} patients ({summary['valid']} valid, {summary['invalid']} invalid, "
            f"{summary['errors']} errors) in {wall:.1f} s, {summary['inputs'] / wall:.0f} patients/s")


if __name__ == "__main__":
    main()
