"""The inputs of a cohort run, listed in a fixed order so that a rerun cuts the same chunks.

An *item* is one input: a patient file (Turtle, JSON-LD, FHIR JSON), one line of JSON Lines (stdin or a
.jsonl file), or the resources of one patient of a Bulk Data NDJSON export. Items are read in the worker that
evaluates them; one that cannot be read becomes an error record, never a lost input.

JSON Lines: one object a line, either ``{"id": ..., "turtle": "..."}`` /
``{"id": ..., "jsonld": {...}}`` (a patient graph), or a FHIR resource or Bundle (``resourceType``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kg.errors import InputError
from kg.input.fhir.records import MAPPED, SHARED, drug_reference
from kg.input import PatientData, parse_patient, read_patients

PATIENT_SUFFIXES = {".ttl", ".turtle", ".jsonld", ".json", ".nt"}


@dataclass(frozen=True)
class Item:
    """One input: ``kind`` is "file", "line", "fhir-patient" (resources) or "fhir-lines" (where a patient's
    resources are in an export's files); ``payload`` what the worker needs."""

    source: str
    kind: str
    payload: object
    id: str | None = None


def items(sources: list[str], *, out: Path | None = None) -> Iterator[Item]:
    """Every input of the sources, in order (folders sorted by name)."""
    for source in sources:
        if source == "-":
            yield from _lines("<stdin>", sys.stdin.buffer)
            continue
        path = Path(source)
        if path.is_dir():
            bulk, files = folder_files(path, out=out)
            if bulk:
                yield from _bulk(bulk)
            for file in files:
                yield Item(str(file), "file", str(file))
        elif path.suffix.lower() == ".ndjson":
            yield from _bulk([path])
        elif path.suffix.lower() == ".jsonl":
            try:
                with path.open("rb") as stream:
                    yield from _lines(str(path), stream)
            except OSError as exc:
                raise InputError(f"cannot read file: {exc.strerror or exc}", str(path)) from None
        else:
            yield Item(str(path), "file", str(path))


def check_sources(sources: list[str]) -> None:
    """A source named that is not there is a mistake of the call, found before anything is read or written."""
    for source in sources:
        if source != "-" and not Path(source).exists():
            raise InputError("no such file or folder", source)


def folder_files(folder: Path, *, out: Path | None = None) -> tuple[list[Path], list[Path]]:
    """(Bulk Data files, patient files) of a folder, as the run reads them."""
    return bulk_files(sorted(folder.glob("*.ndjson"))), patient_files(folder, out=out)


def fingerprint(sources: list[str], *, out: Path | None = None) -> str:
    """A digest of the path, size and modification time (ns) of every file the sources read: it changes
    when a file is edited, added or removed, and costs one stat a file, not a read of 100,000 files."""
    digest = hashlib.sha256()
    for source in sources:
        if source == "-":
            continue  # stdin cannot be fingerprinted; run_cohort refuses --resume with it
        path = Path(source)
        files = [f for group in folder_files(path, out=out) for f in group] if path.is_dir() else [path]
        for file in files:
            stat = file.stat()
            digest.update(f"{file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def patient_files(folder: Path, *, out: Path | None = None) -> list[Path]:
    """The patient files of a folder and its subfolders, sorted; never those under ``out``, the run's own
    output (a results.ttl there is not a patient)."""
    inside = _inside(out, folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PATIENT_SUFFIXES
                  and (inside is None or p.relative_to(folder).parts[:len(inside)] != inside))


def _inside(out: Path | None, folder: Path) -> tuple[str, ...] | None:
    """Where ``out`` is inside ``folder`` (its path parts there), or None when it is not."""
    if out is None:
        return None
    try:
        return Path(out).resolve().relative_to(folder.resolve()).parts
    except ValueError:
        return None


def _bulk(files: list[Path]) -> Iterator[Item]:
    """A Bulk Data export: the resources grouped by the patient they belong to (``Patient/<id>``).

    A first pass reads each line to find its patient and keeps only where the line is (file, byte offset,
    length, line number): an export of 10,000 patients is gigabytes of JSON, and held as Python objects it would not fit
    in memory. The worker that evaluates a patient reads its lines again (``read``). A Medication belongs to
    no patient: each patient gets the Medications its own resources reference."""
    names = tuple(str(file) for file in bulk_files(files))
    by_patient: dict[str, array] = {}
    wanted: dict[str, set[str]] = {}  # patient -> Medication/id its resources reference
    shared: dict[str, tuple[int, int, int, int]] = {}  # Medication/id -> where its line is
    for index, name in enumerate(names):
        try:
            stream = open(name, "rb")
        except OSError as exc:
            raise InputError(f"cannot read the export: {exc.strerror or exc}", name) from None
        with stream:
            offset = 0
            for number, line in enumerate(stream, start=1):
                found = bulk_line(name, number, line)
                if isinstance(found, Item):
                    yield found
                elif found is not None and found[0] is None:
                    shared[shared_key(found[1])] = (index, offset, len(line), number)
                elif found is not None:
                    by_patient.setdefault(found[0], array("q")).extend((index, offset, len(line), number))
                    wanted.setdefault(found[0], set()).update(medication_references(found[1]))
                offset += len(line)
    for patient, places in by_patient.items():
        for key in sorted(wanted.get(patient, ())):
            if key in shared:
                places.extend(shared[key])
        yield Item(f"Patient/{patient}", "fhir-lines", (names, places), patient)


def bulk_files(files: list[Path]) -> list[Path]:
    """The resource files of an export (its log.ndjson is no resource file)."""
    return [file for file in files if file.name != "log.ndjson"]


def bulk_line(file: str, number: int, line: bytes) -> tuple[str | None, dict] | Item | None:
    """(patient id, resource) of one NDJSON line; (None, resource) for a Medication, which belongs to no
    patient; an unreadable item if it is not a FHIR resource naming its patient; None for a blank line, and
    for a resource of no patient that the FHIR mapping never reads (an Organization, a Practitioner)."""
    if not line.strip():
        return None
    try:
        resource = json.loads(line)
        try:
            return _patient_of(resource), resource
        except KeyError:
            if resource["resourceType"] in SHARED:
                return None, resource
            if resource["resourceType"] not in MAPPED:
                return None
            raise
    except RecursionError:
        return Item(f"{file}:{number}", "unreadable", "JSON nested too deeply; refused")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return Item(f"{file}:{number}", "unreadable", f"not a FHIR resource: {exc}")


def shared_key(resource: dict) -> str:
    return f"{resource['resourceType']}/{resource.get('id')}"


def medication_references(resource: dict) -> list[str]:
    """The Medication/id a medication resource names its drug by, if any."""
    target = drug_reference(resource)
    if target is None or "Medication/" not in target:
        return []
    return ["Medication/" + target.rsplit("Medication/", 1)[1]]


def with_medications(placed: list[tuple[str, dict]], medications: dict[str, tuple[str, dict]]) -> list[tuple[str, dict]]:
    """A patient's (place, resource) pairs and those of the Medications they reference, of those the export holds."""
    wanted = sorted({key for _, resource in placed for key in medication_references(resource)})
    return placed + [medications[key] for key in wanted if key in medications]


def bulk_item(patient: str, resources: list[tuple[str, dict]]) -> Item:
    """The item of one patient's resources, each with its place in the export (``file:line``), in the order
    of the export."""
    return Item(f"Patient/{patient}", "fhir-patient", resources, patient)


def line_item(source: str, number: int, line: bytes) -> Item | None:
    """One line of JSON Lines (stdin or a .jsonl file) as an item; None for a blank line."""
    return Item(f"{source}:{number}", "line", line) if line.strip() else None


def _lines(source: str, stream) -> Iterator[Item]:
    for number, line in enumerate(stream, start=1):
        item = line_item(source, number, line)
        if item is not None:
            yield item


def _patient_of(resource: dict) -> str:
    if resource["resourceType"] == "Patient":
        return resource["id"]
    for key in ("subject", "patient"):
        reference = (resource.get(key) or {}).get("reference", "")
        if reference.startswith("Patient/"):
            return reference.split("/", 1)[1]
        if reference.startswith("urn:uuid:"):
            return reference[len("urn:uuid:"):]
    raise KeyError(f"{resource['resourceType']} names no patient (subject or patient)")


def read(item: Item, *, now: dt.date | None = None) -> list[tuple[str | None, PatientData]]:
    """The patient graphs of an item (one, except for a FHIR record of several); InputError otherwise.
    FHIR is read by the FHIR reader's own entry points, as of ``now``, exactly as ``acr-kg recommend`` reads it."""
    if item.kind == "unreadable":
        raise InputError(item.payload, item.source)
    if item.kind == "file":
        return [(None, data) for data in read_patients(item.payload, now=now)]
    if item.kind == "fhir-patient":
        return _fhir_resources(item.payload, item.source, item.id, now)
    if item.kind == "fhir-lines":
        return _fhir_resources(_lines_at(*item.payload), item.source, item.id, now)
    try:
        record = json.loads(item.payload)
    except RecursionError:
        raise InputError("JSON nested too deeply; refused", item.source) from None
    except ValueError as exc:
        raise InputError(f"not a JSON object: {exc}", item.source) from None
    if not isinstance(record, dict):
        raise InputError("a line must be a JSON object", item.source)
    if "resourceType" in record:
        from kg.input.fhir import patients_from_resources_checked, resources_from_json

        found = resources_from_json(record, item.source)
        return [(None, data) for data in patients_from_resources_checked(found, item.source, now=now, order=None)]
    for key, fmt in (("turtle", "turtle"), ("jsonld", "json-ld")):
        if key in record:
            return [(str(record["id"]) if record.get("id") is not None else None, _graph(record[key], key, fmt, item))]
    raise InputError('a line needs "turtle" or "jsonld" (a patient graph), or a FHIR "resourceType"', item.source)


def _graph(body: object, key: str, fmt: str, item: Item) -> PatientData:
    """The patient graph in a line's "turtle" or "jsonld" member. It is parsed without a file name, so that
    relative IRIs resolve against the same base for every line; an error names the file and line of the
    JSON Lines (the parser's message says where in the member's text)."""
    text = body if isinstance(body, str) else json.dumps(body)
    try:
        data = parse_patient(text.encode(), "<input>", fmt)
    except InputError as exc:
        detail = str(exc).removeprefix("<input>" if exc.line is None else f"<input>:{exc.line}").removeprefix(": ")
        raise InputError(f"in its {key} text: {detail}", item.source) from None
    data.source = item.source
    return data


def _lines_at(names: tuple[str, ...], places: array) -> list[tuple[str, dict]]:
    """(file:line, resource) at these places of an export's files (see ``_bulk``), in the export's order."""
    resources, streams = [], {}
    try:
        for at in range(0, len(places), 4):
            index, offset, length, number = places[at:at + 4]
            if index not in streams:
                streams[index] = open(names[index], "rb")
            streams[index].seek(offset)
            line = streams[index].read(length)
            try:
                resources.append((f"{Path(names[index]).name}:{number}", json.loads(line)))
            except ValueError:
                raise InputError(f"the line at byte {offset} is no longer a FHIR resource: the file changed after "
                                 "the export was listed", names[index]) from None
    except OSError as exc:
        raise InputError(f"cannot read the export: {exc.strerror or exc}", getattr(exc, "filename", None)) from None
    finally:
        for stream in streams.values():
            stream.close()
    return resources


def _fhir_resources(placed: list[tuple[str, dict]], source: str, patient_id: str | None,
                    now: dt.date | None) -> list[tuple[str | None, PatientData]]:
    """A Bulk Data patient read as the FHIR reader reads an export, each resource named by its file and line."""
    from kg.input.fhir import patients_from_resources_checked
    from kg.input.fhir.records import resources_from_json

    resources = [r for place, data in placed for r in resources_from_json(data, place, place=place)]
    return [(patient_id, data) for data in patients_from_resources_checked(resources, source, now=now, order=None)]
