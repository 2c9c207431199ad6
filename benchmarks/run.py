"""Benchmark: validate + recommend on synthetic patients whose order dates are spread over a year, against
rdflib's SPARQL engine and one-at-a-time evaluation in the same run.

Prints cold start (`acr-kg --version`, `acr-kg recommend` on the seed), warm in-process latency one patient
at a time (median, p95; with the engine's default threads per call and with one) and per patient in
batches (dates mixed in each batch), these three measured in alternating rounds so that the machine's
drift falls on each alike, the batch speed-up, throughput at N patients (default 10,000) with one process per core, and the same work on rdflib's
engine for a subsample, with the ratio; beside them the figures measured before the engine change
(BEFORE). Figures also go to benchmarks/out/results.json. Targets (2-core machine): cold recommend
<= 0.7 s, warm one-by-one median <= 5 ms, batched with spread dates >= 3x one-by-one.

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

import datetime as dt  # noqa: E402

from kg.input import parse_patient  # noqa: E402
from kg.recommend import Engine  # noqa: E402
from kg.synthetic import case_turtle, random_case  # noqa: E402

# Measured with the same script before the per-patient evaluation contexts (issue 7's report, same machine).
BEFORE = {"cold_version_s": 1.2, "cold_cli_median_s": 1.1, "warm_one_by_one_ms": 8.4,
          "warm_batched_spread_dates_ms": 8.4}
FIRST_ORDER_DATE = dt.date(2025, 12, 1)


def generate(n: int, seed: int = 2026) -> list[bytes]:
    """N synthetic patients as Turtle, order dates spread over a year: in scope, out of scope, (10 %) invalid."""
    rng = random.Random(seed)
    return [case_turtle(random_case(rng, now=FIRST_ORDER_DATE + dt.timedelta(days=rng.randint(0, 364))),
                        f"https://example.org/bench/{i}").encode() for i in range(n)]


def outcome(result) -> str:
    if not result.valid:
        return "invalid"
    return "in scope" if result.applicable else "no criteria apply"


def evaluate(engine: Engine, turtle: bytes) -> str:
    """Parse, validate and recommend one patient; return its outcome class."""
    return outcome(engine.recommend(parse_patient(turtle, "bench.ttl")))


def evaluate_batch(engine: Engine, turtles: list[bytes]) -> list[str]:
    """Parse, validate and recommend a batch of patients together (Engine.recommend_many)."""
    return [outcome(r) for r in engine.recommend_many([parse_patient(t, "bench.ttl") for t in turtles])]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def warm_latency(engine: Engine, patients: list[bytes]) -> list[float]:
    evaluate(engine, patients[0])  # load caches, as a long-running service would have
    times = []
    for turtle in patients:
        start = time.perf_counter()
        evaluate(engine, turtle)
        times.append(time.perf_counter() - start)
    return times


def batched(engine: Engine, batch: int):
    """A measure: the per-patient time of each batch of ``batch`` patients (recommend_many)."""
    def measure(patients: list[bytes]) -> list[float]:
        times = []
        for start in range(0, len(patients), batch):
            chunk = patients[start:start + batch]
            began = time.perf_counter()
            evaluate_batch(engine, chunk)
            times.append((time.perf_counter() - began) / len(chunk))
        return times
    return measure


def alternating(measures, patients: list[bytes], rounds: int = 5) -> list[list[float]]:
    """The times of each measure (patients -> times) on the same patients, in alternating rounds: the
    VM's speed drifts by a third within an hour, and so it weighs on each measure alike."""
    size = -(-len(patients) // rounds)
    times: list[list[float]] = [[] for _ in measures]
    for start in range(0, len(patients), size):
        for measure, found in zip(measures, times):
            found += measure(patients[start:start + size])
    return times


_worker = None


def _init_worker():
    global _worker
    _worker = Engine(threads=1)  # a process per core already
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


def cold_cli(runs: int, *args: str) -> list[float]:
    command = [sys.executable, "-m", "kg", *args]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return times


def parse_date(turtle: bytes) -> str:
    text = turtle.decode()
    return text[text.index("acr:orderDate"):][:30] if "acr:orderDate" in text else ""


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

    results["cold_version_s"] = statistics.median(cold_cli(args.cold_runs, "--version"))
    seed = str(ROOT / "examples" / "seed-patient.ttl")
    results["cold_cli_median_s"] = statistics.median(cold_cli(args.cold_runs, "recommend", seed, "--format", "json"))

    default = Engine()
    results["threads_per_call"] = default.side.threads
    one_at_a_time = Engine(threads=1)
    evaluate_batch(default, patients[:args.batch])  # a batch's queries and stores warm too
    oxigraph, one_thread, batch_times = alternating(
        [lambda p: warm_latency(default, p), lambda p: warm_latency(one_at_a_time, p), batched(default, args.batch)],
        patients[:args.warm])
    results["warm_oxigraph_median_ms"] = statistics.median(oxigraph) * 1000
    results["warm_oxigraph_p95_ms"] = percentile(oxigraph, 0.95) * 1000
    results["warm_one_thread_median_ms"] = statistics.median(one_thread) * 1000

    reference = warm_latency(Engine(backend="rdflib"), patients[:args.rdflib])
    results["warm_rdflib_median_ms"] = statistics.median(reference) * 1000
    results["warm_rdflib_p95_ms"] = percentile(reference, 0.95) * 1000
    same = oxigraph[:args.rdflib]
    results["rdflib_over_oxigraph_ratio"] = sum(reference) / sum(same)

    results["warm_batched_per_patient_ms"] = statistics.median(batch_times) * 1000
    results["batch_speedup"] = results["warm_oxigraph_median_ms"] / results["warm_batched_per_patient_ms"]
    dates = {parse_date(p) for p in patients[:args.warm]}

    rate_single, outcomes_single = throughput(patients, args.workers, 1)
    rate, outcomes = throughput(patients, args.workers, args.batch)
    assert outcomes == outcomes_single, "batched and one-at-a-time runs disagree"
    results["throughput_one_at_a_time_patients_per_s"] = rate_single
    results["throughput_patients_per_s"] = rate
    results["outcomes"] = dict(outcomes)

    print(f"synthetic patients: {args.patients} ({', '.join(f'{k}: {v}' for k, v in sorted(outcomes.items()))}); "
          f"{len(dates)} distinct order dates among the first {args.warm}")
    print(f"cold `acr-kg --version`:                 median {results['cold_version_s']:.2f} s   (before: {BEFORE['cold_version_s']} s)")
    print(f"cold CLI (recommend, seed patient):      median {results['cold_cli_median_s']:.2f} s   "
          f"(target <= 0.7 s; before: {BEFORE['cold_cli_median_s']} s)")
    print(f"warm, pyoxigraph (validate + recommend): median {results['warm_oxigraph_median_ms']:.1f} ms, "
          f"p95 {results['warm_oxigraph_p95_ms']:.1f} ms   (target median <= 5 ms; before: {BEFORE['warm_one_by_one_ms']} ms)")
    print(f"warm, one thread per call:               median {results['warm_one_thread_median_ms']:.1f} ms "
          f"(the figure above: {results['threads_per_call']} per call)")
    print(f"warm, rdflib engine, same work:          median {results['warm_rdflib_median_ms']:.1f} ms, "
          f"p95 {results['warm_rdflib_p95_ms']:.1f} ms   on {args.rdflib} patients")
    print(f"rdflib / pyoxigraph time ratio:          {results['rdflib_over_oxigraph_ratio']:.1f}x")
    print(f"warm, in batches of {args.batch}, dates mixed:    {results['warm_batched_per_patient_ms']:.1f} ms per patient, "
          f"{results['batch_speedup']:.1f}x one by one   (target >= 3x; before: {BEFORE['warm_batched_spread_dates_ms']} ms, 1.0x)")
    print(f"throughput, {args.workers} worker(s), one at a time:  {rate_single:.0f} patients/s")
    print(f"throughput, {args.workers} worker(s), batches of {args.batch}: {rate:.0f} patients/s   (target >= 1,000)")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
