"""Cohort runs on Apache Spark: the per-patient function of the local runner inside Spark tasks.

Bulk Data NDJSON is read line by line (``textFile`` with line numbers) and the resources are grouped by
patient id (the Patient's id, and the ``Patient/<id>`` subject or patient reference of the others), in
the order of the export, as the local runner groups them (kg.cohort.inputs). JSON Lines files give one
item a line; patient files are listed on the driver and read by the executors (a shared file system on
a cluster). Each partition is evaluated by ``kg.cohort.chunks.evaluate_items`` in batches, with the
engine of its Python worker (one per executor process, built on first use and reused across tasks).

The results are written as Spark writes them: OUT/results.parquet, answers.jsonl, errors.jsonl (and
results.ttl) are folders of part files, committed by Spark's output committer; OUT/summary.json is
written by the driver. Requires the ``spark`` extra (pyspark).

Under spark-submit the master comes from spark-submit; otherwise a local master with ``workers`` cores.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from kg.cohort.chunks import (SCHEMA_FIELDS, add, error_line, evaluate_items, one_core, remove_output, summarize,
                              write_atomically, writing)
from kg.cohort.inputs import (Item, bulk_files, bulk_item, bulk_line, check_sources, line_item, patient_files,
                              shared_key, with_medications)
from kg.errors import UsageError
from kg.output import answer_line

BATCH = 500  # items evaluated together inside a partition
# The kind of each record the executors hand back, and its payload column.
RESULT, ERROR, TRIPLES, SUMMARY = "result", "error", "turtle", "summary"

__all__ = ["run_spark", "session"]


def session(*, workers: int = 2, app: str = "acr-kg cohort"):
    """The active SparkSession, or a small local one (``workers`` cores) when none is configured."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UsageError("--engine spark needs pyspark: pip install 'acr-kg[spark]'") from None
    builder = SparkSession.builder.appName(app)
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit (which sets the master): local mode
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this interpreter (with kg)
        builder = (builder.master(f"local[{workers}]").config("spark.ui.enabled", "false")
                   .config("spark.sql.shuffle.partitions", str(workers))
                   .config("spark.default.parallelism", str(workers)).config("spark.ui.showConsoleProgress", "false"))
        active = builder.config("spark.python.worker.reuse", "true").getOrCreate()
        active.sparkContext.setLogLevel("ERROR")
        return active
    return builder.config("spark.python.worker.reuse", "true").getOrCreate()


def run_spark(sources: list[str], *, out: str | Path, workers: int = 2, now: dt.date | None = None,
              thresholds: str = "seed", formats: tuple[str, ...] = ("parquet",), spark=None) -> dict:
    """Evaluate every patient of the sources on Spark; returns the summary (also OUT/summary.json)."""
    check_sources(sources)
    out = Path(out)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
        if "turtle" not in formats:  # an earlier run's; population queries would read that cohort's facts
            remove_output(out / "results.ttl")
    spark = spark or session(workers=workers)
    start = time.perf_counter()
    context = spark.sparkContext
    inputs = _inputs(context, sources, out)
    with_triples = "turtle" in formats
    records = inputs.mapPartitions(lambda part: _evaluate(iter(part), now, thresholds, with_triples))
    frame = spark.createDataFrame(records, _schema()).persist()
    try:
        results = frame.filter(frame.kind == RESULT)
        results.select(*[name for name, _ in SCHEMA_FIELDS]).write.mode("overwrite").parquet(str(out / "results.parquet"))
        results.select("text").write.mode("overwrite").text(str(out / "answers.jsonl"))
        frame.filter(frame.kind == ERROR).select("text").write.mode("overwrite").text(str(out / "errors.jsonl"))
        if with_triples:
            frame.filter(frame.kind == TRIPLES).select("text").write.mode("overwrite").text(str(out / "results.ttl"))
        total: dict = {}
        for record in frame.filter(frame.kind == SUMMARY).select("text").collect():
            add(total, json.loads(record.text))
    finally:
        frame.unpersist()
    elapsed = time.perf_counter() - start
    total |= {"engine": "spark", "master": context.master, "workers": context.defaultParallelism,
              "seconds": round(elapsed, 3),
              "inputs_per_second": round(total.get("inputs", 0) / elapsed, 1) if elapsed else None}
    with writing(out):
        write_atomically(out / "summary.json", (json.dumps(total, indent=2, ensure_ascii=False) + "\n").encode())
    return total


def _inputs(context, sources: list[str], out: Path):
    """One RDD of items: Bulk Data resources grouped by patient, JSON Lines, and listed patient files."""
    parts, listed = [], []
    for source in sources:
        if source == "-":
            raise UsageError("--engine spark reads files and folders, not stdin; write the lines to a .jsonl file")
        path = Path(source)
        suffix = path.suffix.lower()
        if path.is_dir():
            ndjson = bulk_files(sorted(path.glob("*.ndjson")))
            if ndjson:
                parts.append(_bulk(context, ndjson))
            listed += patient_files(path, out=out)
        elif suffix == ".ndjson":
            parts.append(_bulk(context, bulk_files([path])))
        elif suffix == ".jsonl":
            parts.append(_numbered(context, path).flatMap(
                lambda pair, name=str(path): [i for i in [line_item(name, pair[1] + 1, pair[0].encode())] if i]))
        else:
            listed.append(path)
    if listed:
        files = [Item(str(file), "file", str(file)) for file in listed]
        parts.append(context.parallelize(files, max(context.defaultParallelism, len(files) // BATCH)))
    if not parts:
        return context.emptyRDD()
    return context.union(parts) if len(parts) > 1 else parts[0]


def _numbered(context, path: Path):
    """(line, index from 0) of a text file, in file order."""
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    return context.textFile(str(path), minPartitions=context.defaultParallelism).zipWithIndex()


def _bulk(context, files: list[Path]):
    names = [file.name for file in files]
    lines = context.union([_numbered(context, file).map(lambda pair, k=k, name=str(file): (k, name, pair))
                           for k, file in enumerate(files)])
    # read once: the unreadable lines, the Medications and the patients' resources are three passes over it
    found = lines.map(lambda t: ((t[0], t[2][1]), bulk_line(t[1], t[2][1] + 1, t[2][0].encode()))).cache()
    unreadable = found.filter(lambda kv: isinstance(kv[1], Item)).values()
    readable = found.filter(lambda kv: isinstance(kv[1], tuple))
    place = lambda key: f"{names[key[0]]}:{key[1] + 1}"  # noqa: E731  (file:line, as the local engine names it)
    # Medications belong to no patient and are few: every executor gets them all, each patient those it references
    medications = context.broadcast(dict(readable.filter(lambda kv: kv[1][0] is None)
                                         .map(lambda kv: (shared_key(kv[1][1]), (place(kv[0]), kv[1][1]))).collect()))
    grouped = (readable.filter(lambda kv: kv[1][0] is not None)
               .map(lambda kv: (kv[1][0], (kv[0], kv[1][1])))
               .groupByKey()
               .map(lambda group: bulk_item(group[0], with_medications(
                   [(place(key), r) for key, r in sorted(group[1], key=lambda e: e[0])], medications.value))))
    return context.union([unreadable, grouped])


def _evaluate(partition, now: dt.date | None, thresholds: str, with_triples: bool) -> Iterator[tuple]:
    """The records of one partition: results, errors, Turtle of the derived facts, and its summary."""
    one_core()  # a Spark task holds one core; its siblings hold the others
    empty = (None,) * len(SCHEMA_FIELDS)
    rows_seen, errors_seen, count = [], [], 0
    while batch := list(itertools.islice(partition, BATCH)):
        rows, answers, errors, triples = evaluate_items(batch, now=now, thresholds=thresholds, with_triples=with_triples)
        count += len(batch)
        for row, answer in zip(rows, answers):
            yield (RESULT, *[row[name] for name, _ in SCHEMA_FIELDS], answer_line(answer).decode())
        for error in errors:
            yield (ERROR, *empty, error_line(error))
        if triples:
            from kg.output import triples_turtle

            yield (TRIPLES, *empty, triples_turtle(triples).rstrip("\n"))
        rows_seen += [{key: row[key] for key in ("valid", "variants", "order_status", "order_rating", "missing")}
                      for row in rows]
        errors_seen += errors
    yield (SUMMARY, *empty, json.dumps(summarize(rows_seen, errors_seen, count)))


def _schema():
    from pyspark.sql import types as T

    kinds = {"string": T.StringType(), "bool": T.BooleanType(), "int32": T.IntegerType(),
             "list<string>": T.ArrayType(T.StringType())}
    return T.StructType([T.StructField("kind", T.StringType(), False),
                         *[T.StructField(name, kinds[kind], True) for name, kind in SCHEMA_FIELDS],
                         T.StructField("text", T.StringType(), True)])
