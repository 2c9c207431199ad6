"""acr-kg validate PATIENT: check a patient graph against the shapes."""
from __future__ import annotations

import sys

import click

from kg.cli.options import format_option, output_option, patient_options
from kg.input import read_patient
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
def command(patient, input_format, now, thresholds, output_format, engine, output):
    """Validate PATIENT (Turtle or JSON-LD file, or - for stdin). Exit 1 on violations; warnings do not fail."""
    data = read_patient(patient, input_format)
    result = Engine(validation=engine).validate([Request(data, now, thresholds)])[0]
    with output_stream(output) as out:
        out.write(VALIDATION_WRITERS[output_format](result))
    sys.exit(0 if result.valid else 1)
