"""One chunk of a cohort: read its items, evaluate the patients, write its files atomically.

The per-patient function of every engine (local processes or Spark executors) is ``evaluate_items``:
items in, (rows, answers, errors) out. A process keeps one engine and one memory of signatures
(kg.recommend.signatures) for all the chunks it evaluates.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kg.cohort.inputs import Item, read
from kg.errors import AcrKgError, UsageError
from kg.output import answer_line
from kg.recommend import Engine, Request
from kg.store import from_oxigraph
from kg.terms import ACR

ORDER_PREDICATES = {ACR + "hasCurrentOrder", ACR + "orderedProcedure"}

_shared = None
_threads: int | None = None  # per call; None: the engine's default (a thread per core)


def one_core() -> None:
    """This process is one of several, a core each (a worker of a pool or a Spark task): its engine then
    runs a call's queries one at a time, instead of competing with its siblings for the other cores."""
    global _threads
    _threads = 1


def shared():
    """This process's engine with its memory of signatures, built on first use."""
    global _shared
    if _shared is None:
        from kg.recommend.signatures import SharedExplanations

        _shared = SharedExplanations(Engine(threads=_threads))
    return _shared


def row(item_id: str | None, answer: dict) -> dict:
    """The results.parquet row of one answer."""
    order = answer.get("order") or {}
    ratings = order.get("ratings") or []
    return {
        "id": _text(item_id or answer.get("patient")),
        "source": _text(answer["source"]),
        "patient": _text(answer.get("patient")),
        "valid": answer["valid"],
        "evaluation_date": answer["evaluation_date"],
        "variants": [f"{a['topic_id']}-{a['variant_number']}" for a in answer.get("applicable", [])],
        "ordered_procedure": _text(order.get("procedure")),
        "order_status": _text(order.get("status")) if answer["valid"] else None,
        "order_rating": "; ".join(sorted({r.get("category_label") or "" for r in ratings})) or None,
        "order_usually_appropriate": all(r.get("usually_appropriate") for r in ratings) if ratings else None,
        "missing": sorted({m for w in answer.get("would_apply_if", []) for m in w.get("missing", [])}),
        "violations": len(answer.get("violations", [])),
        "warnings": len(answer.get("warnings", [])),
    }


def _text(value) -> str | None:
    """Plain text (query results are str subclasses, which Spark cannot take)."""
    return None if value is None else str.__str__(value)


def evaluate_items(items: list[Item], *, now: dt.date | None = None, thresholds: str = "seed",
                   with_triples: bool = False) -> tuple[list[dict], list[dict], list[dict], list]:
    """(rows, answers, errors, derived triples) for these items, in item order."""
    requests, ids, errors = [], [], []
    for item in items:
        try:
            graphs = read(item, now=now)
        except AcrKgError as exc:  # the readers say what is wrong with an input, and where, this way
            errors.append({"source": item.source, "id": item.id, "error": str(exc)})
            continue
        for patient_id, data in graphs:
            requests.append(Request(data, now, thresholds))
            ids.append(patient_id)
    results = shared().evaluate(requests) if requests else []
    rows, answers, triples = [], [], []
    for patient_id, request, result in zip(ids, requests, results):
        answer = result.fields()  # read only: written by kg.output.answer_line
        rows.append(row(patient_id, answer))
        answers.append(answer)
        if with_triples and result.valid:  # the derived facts, and the order facts population queries join on
            triples.extend(result.derived)
            triples.extend((from_oxigraph(q.subject), from_oxigraph(q.predicate), from_oxigraph(q.object))
                           for q in request.data.quads if q.predicate.value in ORDER_PREDICATES)
    return rows, answers, errors, triples


def summarize(rows: list[dict], errors: list[dict], inputs: int) -> dict:
    """Counts of one chunk (added up over chunks by ``add``)."""
    return {
        "inputs": inputs, "patients": len(rows), "errors": len(errors),
        "valid": sum(r["valid"] for r in rows), "invalid": sum(not r["valid"] for r in rows),
        "variants": dict(Counter(v for r in rows for v in r["variants"])),
        "no_variant": sum(r["valid"] and not r["variants"] for r in rows),
        "order_status": dict(Counter(r["order_status"] for r in rows if r["order_status"])),
        "order_rating": dict(Counter(r["order_rating"] for r in rows if r["order_rating"])),
        "missing": dict(Counter(m for r in rows for m in r["missing"])),
    }


def add(total: dict, part: dict) -> dict:
    for key, value in part.items():
        if isinstance(value, dict):
            counts = Counter(total.get(key, {}))
            counts.update(value)
            total[key] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        else:
            total[key] = total.get(key, 0) + value
    return total


def error_line(error: dict) -> str:
    """One line of errors.jsonl."""
    return json.dumps(error, ensure_ascii=False)


@contextmanager
def writing(out: Path) -> Iterator[None]:
    """A failure to write under OUT is a wrong --out (a folder that cannot be created or written), not an
    internal error."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or out
        raise UsageError(f"--out {out}: cannot write {where}: {exc.strerror or exc}") from None


def remove_output(path: Path, *, folder_only: bool = False) -> None:
    """Remove an output of an earlier run: a file, or the folder of part files Spark writes."""
    if path.is_dir():
        shutil.rmtree(path)
    elif not folder_only:
        path.unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def run_chunk(task: tuple) -> dict:
    """Evaluate chunk number ``index`` and write its files under ``folder``; the summary file goes last
    and marks the chunk done (a rerun with --resume skips it)."""
    index, items, folder, now, thresholds, formats = task
    folder = Path(folder)
    rows, answers, errors, triples = evaluate_items(items, now=now, thresholds=thresholds,
                                                    with_triples="turtle" in formats)
    stem = folder / f"part-{index:05d}"
    write_parquet(stem.with_suffix(".parquet"), rows)
    write_atomically(stem.with_suffix(".answers.jsonl"), b"".join(answer_line(a) + b"\n" for a in answers))
    write_atomically(stem.with_suffix(".errors.jsonl"), b"".join(error_line(e).encode() + b"\n" for e in errors))
    if "turtle" in formats:
        from kg.output import triples_turtle

        write_atomically(stem.with_suffix(".ttl"), triples_turtle(triples).encode())
    summary = summarize(rows, errors, len(items))
    write_atomically(stem.with_suffix(".summary.json"), json.dumps(summary).encode())
    return summary


SCHEMA_FIELDS = (("id", "string"), ("source", "string"), ("patient", "string"), ("valid", "bool"),
                 ("evaluation_date", "string"), ("variants", "list<string>"), ("ordered_procedure", "string"),
                 ("order_status", "string"), ("order_rating", "string"), ("order_usually_appropriate", "bool"),
                 ("missing", "list<string>"), ("violations", "int32"), ("warnings", "int32"))


def arrow_schema():
    import pyarrow as pa

    types = {"string": pa.string(), "bool": pa.bool_(), "int32": pa.int32(), "list<string>": pa.list_(pa.string())}
    return pa.schema([(name, types[kind]) for name, kind in SCHEMA_FIELDS])


def write_parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=arrow_schema())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, path)
