"""acr-kg validate PATIENT: check a patient graph against the shapes."""
from __future__ import annotations

import sys

import click

from kg.cli.options import format_option, output_option, patient_options
from kg.input import read_patients
from kg.output import VALIDATION_WRITERS
from kg.output.files import output_stream
from kg.recommend import Engine, Request
from kg.validate import ENGINES


@click.command("validate")
@patient_options
@format_option(VALIDATION_WRITERS, "text", "A readable report, JSON, or the sh:ValidationReport graph in Turtle.")
@click.option("--engine", type=click.Choice(ENGINES), default="sparql", show_default=True,
              help="SHACL engine: the shapes compiled to SPARQL on Oxigraph, or pySHACL (the reference; slower).")
@output_option
def command(patient, input_format, now, order, thresholds, output_format, engine, output):
    """Validate PATIENT (Turtle, JSON-LD or FHIR R4 file, a Bulk Data folder, or - for stdin). Exit 1 on
    violations; warnings do not fail. A FHIR record of several patients gives one report per patient."""
    data = read_patients(patient, input_format, now=now, order=order)
    results = Engine(validation=engine).validate([Request(one, now, thresholds) for one in data])
    with output_stream(output) as out:
        out.write(VALIDATION_WRITERS[output_format](results))
    sys.exit(0 if all(result.valid for result in results) else 1)
