"""Benchmark: validate + recommend on synthetic patients, against rdflib's SPARQL engine in the same run.

Prints single-patient latency (cold CLI; warm in-process median and p95, and per patient when
validated and recommended in batches), throughput at N patients (default 10,000) with one process per
core, one patient at a time and in batches, and the same work on rdflib's engine for a subsample, with
the ratio. Figures also go to benchmarks/out/results.json. Targets (2-core machine): warm <= 10 ms,
cold CLI <= 1 s, >= 1,000 patients/s.

    python benchmarks/run.py [--patients 10000] [--warm 500] [--rdflib 100] [--workers 2] [--batch 100]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.input.reader import parse_patient  # noqa: E402
from kg.recommend import Recommender  # noqa: E402
from kg.store import RdflibStore  # noqa: E402
from kg.synthetic import case_turtle, random_case  # noqa: E402


def generate(n: int, seed: int = 2026) -> list[bytes]:
    """N synthetic patients as Turtle: in scope, out of scope and (10 %) invalid."""
    rng = random.Random(seed)
    return [case_turtle(random_case(rng), f"https://example.org/bench/{i}").encode() for i in range(n)]


def outcome(result) -> str:
    if not result.valid:
        return "invalid"
    return "in scope" if result.applicable else "no criteria apply"


def evaluate(recommender: Recommender, turtle: bytes) -> str:
    """Parse, validate and recommend one patient; return its outcome class."""
    return outcome(recommender.recommend(parse_patient(turtle, "bench.ttl")))


def evaluate_batch(recommender: Recommender, turtles: list[bytes]) -> list[str]:
    """Parse, validate and recommend a batch of patients together (Recommender.recommend_many)."""
    return [outcome(r) for r in recommender.recommend_many([parse_patient(t, "bench.ttl") for t in turtles])]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def warm_latency(recommender: Recommender, patients: list[bytes]) -> list[float]:
    evaluate(recommender, patients[0])  # load caches, as a long-running service would have
    times = []
    for turtle in patients:
        start = time.perf_counter()
        evaluate(recommender, turtle)
        times.append(time.perf_counter() - start)
    return times


_worker = None


def _init_worker():
    global _worker
    _worker = Recommender()
    evaluate(_worker, generate(1)[0])


def _work(turtle: bytes) -> str:
    return evaluate(_worker, turtle)


def _work_batch(turtles: list[bytes]) -> list[str]:
    return evaluate_batch(_worker, turtles)


def throughput(patients: list[bytes], workers: int, batch: int) -> tuple[float, Counter]:
    """Patients per second over all of ``patients``: one at a time (batch 1) or in batches per worker."""
    with multiprocessing.get_context("fork").Pool(workers, initializer=_init_worker) as pool:
        pool.map(_work, patients[:workers * 2])  # start-up is not throughput
        start = time.perf_counter()
        if batch == 1:
            outcomes = pool.map(_work, patients, chunksize=64)
        else:
            chunks = [patients[i:i + batch] for i in range(0, len(patients), batch)]
            outcomes = [o for chunk in pool.map(_work_batch, chunks, chunksize=1) for o in chunk]
        elapsed = time.perf_counter() - start
    return len(patients) / elapsed, Counter(outcomes)


def cold_cli(runs: int) -> list[float]:
    command = [sys.executable, "-m", "kg", "recommend", str(ROOT / "examples" / "seed-patient.ttl"), "--format", "json"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--warm", type=int, default=500)
    parser.add_argument("--rdflib", type=int, default=100, help="subsample size for the rdflib baseline")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100, help="patients per recommend_many call in the batch run")
    args = parser.parse_args()

    patients = generate(args.patients)
    results: dict = {"patients": args.patients, "workers": args.workers}

    cold = cold_cli(args.cold_runs)
    results["cold_cli_median_s"] = statistics.median(cold)

    oxigraph = warm_latency(Recommender(), patients[:args.warm])
    results["warm_oxigraph_median_ms"] = statistics.median(oxigraph) * 1000
    results["warm_oxigraph_p95_ms"] = percentile(oxigraph, 0.95) * 1000

    reference = warm_latency(Recommender(RdflibStore()), patients[:args.rdflib])
    results["warm_rdflib_median_ms"] = statistics.median(reference) * 1000
    results["warm_rdflib_p95_ms"] = percentile(reference, 0.95) * 1000
    same = oxigraph[:args.rdflib]
    results["rdflib_over_oxigraph_ratio"] = sum(reference) / sum(same)

    batch_times = []
    warm_recommender = Recommender()
    for i in range(0, args.warm, args.batch):
        start = time.perf_counter()
        evaluate_batch(warm_recommender, patients[i:i + args.batch])
        batch_times.append((time.perf_counter() - start) / len(patients[i:i + args.batch]))
    results["warm_batched_per_patient_ms"] = statistics.median(batch_times) * 1000

    rate_single, outcomes_single = throughput(patients, args.workers, 1)
    rate, outcomes = throughput(patients, args.workers, args.batch)
    assert outcomes == outcomes_single, "batched and one-at-a-time runs disagree"
    results["throughput_one_at_a_time_patients_per_s"] = rate_single
    results["throughput_patients_per_s"] = rate
    results["outcomes"] = dict(outcomes)

    print(f"synthetic patients: {args.patients} ({', '.join(f'{k}: {v}' for k, v in sorted(outcomes.items()))})")
    print(f"cold CLI (recommend, seed patient):      median {results['cold_cli_median_s']:.2f} s   (target <= 1 s)")
    print(f"warm, pyoxigraph (validate + recommend): median {results['warm_oxigraph_median_ms']:.1f} ms, "
          f"p95 {results['warm_oxigraph_p95_ms']:.1f} ms   (target <= 10 ms)")
    print(f"warm, rdflib engine, same work:          median {results['warm_rdflib_median_ms']:.1f} ms, "
          f"p95 {results['warm_rdflib_p95_ms']:.1f} ms   on {args.rdflib} patients")
    print(f"rdflib / pyoxigraph time ratio:          {results['rdflib_over_oxigraph_ratio']:.1f}x")
    print(f"warm, in batches of {args.batch}:                 {results['warm_batched_per_patient_ms']:.1f} ms per patient")
    print(f"throughput, {args.workers} worker(s), one at a time:  {rate_single:.0f} patients/s")
    print(f"throughput, {args.workers} worker(s), batches of {args.batch}: {rate:.0f} patients/s   (target >= 1,000)")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
