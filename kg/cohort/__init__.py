"""Whole populations: every patient of Bulk FHIR exports and patient folders, evaluated in chunks.

One door: ``run_cohort``. The inputs are listed in a fixed order and cut into chunks; each chunk is
evaluated by a worker process with an engine of its own and
written atomically under OUT/chunks/; the chunks are then joined into OUT/results.parquet,
answers.jsonl, errors.jsonl (and results.ttl with the "turtle" format) and OUT/summary.json.
Every input ends up exactly once in results or errors. ``resume`` skips the chunks already written, when
the manifest shows the same options and the same input files (path, size and modification time of each).
With ``engine="spark"`` the same per-patient function runs on Apache Spark instead (kg.cohort.spark).

Invalid patient data (shape violations) are results with valid = false and their violations in
answers.jsonl; errors.jsonl holds the inputs that could not be read as a patient at all.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

from kg.cohort.chunks import add, one_core, remove_output, run_chunk, write_atomically, writing
from kg.cohort.inputs import check_sources, fingerprint
from kg.cohort.inputs import items as list_items
from kg.errors import UsageError
from kg.validate import check_thresholds

CHUNK_SIZE = 2_000  # inputs per chunk: the unit of work, of atomic output and of --resume
FORMATS = ("parquet", "turtle")
ENGINES = ("local", "spark")  # worker processes on this machine, or Apache Spark (kg.cohort.spark)

__all__ = ["CHUNK_SIZE", "ENGINES", "FORMATS", "run_cohort"]


def run_cohort(sources: list[str], *, out: str | Path, workers: int = 1, engine: str = "local",
               now: dt.date | None = None, thresholds: str = "seed", formats: tuple[str, ...] = ("parquet",),
               resume: bool = False, chunk_size: int = CHUNK_SIZE, progress: bool = True) -> dict:
    """Evaluate every patient of the sources; returns the summary (also written to OUT/summary.json)."""
    check_thresholds(thresholds)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise UsageError(f"unknown cohort format {', '.join(sorted(unknown))}; use {' or '.join(FORMATS)}")
    if engine not in ENGINES:
        raise UsageError(f"unknown cohort engine {engine!r}: use {' or '.join(ENGINES)}")
    if engine == "spark":
        if resume:
            raise UsageError("--resume is for the local engine; a Spark run rewrites its outputs")
        from kg.cohort.spark import run_spark

        return run_spark(sources, out=out, workers=workers, now=now, thresholds=thresholds, formats=formats)
    if resume and "-" in sources:
        raise UsageError("--resume cannot tell whether stdin ('-') holds the lines of the run it would resume; "
                         "write them to a .jsonl file, or run without --resume")
    out = Path(out)
    chunks = out / "chunks"
    start = time.perf_counter()
    check_sources(sources)
    with writing(out):  # before the inputs are listed, which may take long for a large export
        out.mkdir(parents=True, exist_ok=True)
    files = fingerprint(sources, out=out)  # before the files are read: one edited while this run reads it differs on --resume
    inputs = list(list_items(sources, out=out))
    chunk_size = _chunk_size(len(inputs), workers, chunk_size)  # in the manifest, for --resume
    manifest = {"sources": [s if s == "-" else str(Path(s).resolve()) for s in sources], "files": files,
                "inputs": len(inputs), "chunk_size": chunk_size, "now": now.isoformat() if now else None,
                # without --now a record with no order date is judged as of today: a resume must be the same day
                "today": None if now else dt.date.today().isoformat(),
                "thresholds": thresholds, "formats": sorted(formats)}
    with writing(out):
        _prepare(chunks, manifest, resume)
    tasks = [(index, inputs[first:first + chunk_size], str(chunks), now, thresholds, tuple(formats))
             for index, first in enumerate(range(0, len(inputs), chunk_size))]
    total: dict = {}
    todo = []
    for task in tasks:
        done = chunks / f"part-{task[0]:05d}.summary.json"
        if done.exists():
            add(total, json.loads(done.read_text()))
        else:
            todo.append(task)
    from tqdm import tqdm

    with writing(out), tqdm(total=len(inputs), initial=total.get("inputs", 0), unit="patient", file=sys.stderr,
                            disable=not progress, smoothing=0.1) as bar:
        for summary in _map(todo, workers):
            add(total, summary)
            bar.update(summary["inputs"])
        _join(out, chunks, len(tasks), formats)
        elapsed = time.perf_counter() - start
        total |= {"engine": engine, "workers": workers, "seconds": round(elapsed, 3),
                  "inputs_per_second": round(len(inputs) / elapsed, 1) if elapsed else None}
        write_atomically(out / "summary.json", (json.dumps(total, indent=2, ensure_ascii=False) + "\n").encode())
    if total.get("inputs", 0) != len(inputs):
        raise AssertionError(f"the chunks account for {total.get('inputs', 0)} of {len(inputs)} inputs")
    return total


def _chunk_size(inputs: int, workers: int, largest: int) -> int:
    """Chunks of at most ``largest`` inputs, as even as they can be, and as many as a multiple of the workers:
    with 5 chunks for 2 workers, one worker would evaluate 3 while the other waits after 2."""
    count = max(1, -(-inputs // max(largest, 1)))
    if workers > 1:
        count = -(-count // workers) * workers
    return max(1, -(-inputs // count))


# What a changed manifest entry means, in the message of a refused --resume.
MANIFEST_TERMS = {"sources": "the sources differ", "files": "an input file was edited, added or removed",
                  "inputs": "the number of inputs differs", "chunk_size": "--chunk-size or --workers differs",
                  "now": "--now differs", "thresholds": "--thresholds differs", "formats": "--format differs",
                  "today": "it was written on another day, and records without an order date are judged as of the day "
                           "of the run; give --now to resume across days"}


def _prepare(chunks: Path, manifest: dict, resume: bool) -> None:
    written = chunks / "manifest.json"
    if resume and written.exists():
        earlier = json.loads(written.read_text())
        changed = [MANIFEST_TERMS[key] for key in manifest if earlier.get(key) != manifest[key]]
        if changed:  # never answers computed from other data: the chunks are kept, the run refused
            raise UsageError(f"--resume: {chunks} was written for other inputs or options ({'; '.join(changed)}); "
                             "run without --resume to evaluate everything again")
        return
    if chunks.exists():
        shutil.rmtree(chunks)
    chunks.mkdir(parents=True)
    write_atomically(written, json.dumps(manifest, indent=2).encode())


def _map(tasks: list, workers: int):
    if workers <= 1 or len(tasks) <= 1:
        yield from map(run_chunk, tasks)
        return
    import multiprocessing

    # spawn: each worker starts clean and builds its own engine (no store copied from the parent)
    with multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)), initializer=one_core) as pool:
        yield from pool.imap_unordered(run_chunk, tasks)


def _join(out: Path, chunks: Path, count: int, formats) -> None:
    """The chunks' files joined into the result files. Each is written whole to a temporary file first; then
    a results.ttl of an earlier run that this one does not replace is removed (population queries would
    read an earlier cohort's facts) and the new files are moved into place together."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kg.cohort.chunks import arrow_schema

    stems = [chunks / f"part-{index:05d}" for index in range(count)]
    suffixes = {"answers.jsonl": ".answers.jsonl", "errors.jsonl": ".errors.jsonl"}
    if "turtle" in formats:
        suffixes["results.ttl"] = ".ttl"
    temporary = {name: out / f".{name}.{os.getpid()}.tmp" for name in ("results.parquet", *suffixes)}
    try:
        tables = [pq.read_table(stem.with_suffix(".parquet")) for stem in stems]
        pq.write_table(pa.concat_tables(tables) if tables else arrow_schema().empty_table(),
                       temporary["results.parquet"])
        for name, suffix in suffixes.items():
            with temporary[name].open("wb") as joined:
                for stem in stems:
                    with stem.with_suffix(suffix).open("rb") as part:
                        shutil.copyfileobj(part, joined, 1 << 20)
        if "turtle" not in formats:
            remove_output(out / "results.ttl")
        for name, path in temporary.items():
            remove_output(out / name, folder_only=True)  # a Spark run's folder of part files
            os.replace(path, out / name)
    finally:
        for path in temporary.values():
            path.unlink(missing_ok=True)
