"""Options shared by several verbs, defined once so that flags stay consistent."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from kg.input.reader import FORMATS


def date_value(_ctx, _param, value):
    """A click callback: an ISO date, or a usage error naming the value."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


# dir_okay: a FHIR Bulk Data export is a folder of Type.*.ndjson files
patient_argument = click.argument("patient", type=click.Path(dir_okay=True, allow_dash=True))
input_format_option = click.option(
    "--input-format", type=click.Choice(sorted(FORMATS)), default=None,
    help="Format of the patient input; by default FHIR R4 JSON/NDJSON by content, else from the file suffix "
         "(.ttl, .jsonld), or sniffed on stdin.")
order_option = click.option(
    "--order", default=None, metavar="CODE",
    help="FHIR input: the order being decided (LOINC:80852-7, RPID:RPID1933, CPT:76882, acrkb:proc-us-axilla); "
         "it is judged instead of the record's latest ServiceRequest.")
now_option = click.option(
    "--now", callback=date_value, default=None, metavar="YYYY-MM-DD",
    help="Evaluation date (ages, phases, date checks). Default: each patient's order date, else today.")
thresholds_option = click.option(
    "--thresholds", default="seed", show_default=True, metavar="KEY",
    help="Threshold set for reading ultrasound nodes: 'seed' (cortex > 2.3 mm) or 'acr' (ACR/Z1071, >= 3 mm).")
backend_option = click.option(
    "--backend", default="oxigraph", show_default=True, metavar="oxigraph|rdflib|URL",
    help="SPARQL engine: embedded pyoxigraph, rdflib, or a SPARQL 1.1 endpoint URL (read-only queries).")
kb_dir_option = click.option(
    "--kb-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
    help="Answer from the knowledge base in this directory (e.g. one written by `acr-kg import`) instead of the project's.")
output_option = click.option(
    "-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default=None,
    help="Write the answer to this file (atomically: complete or not at all) instead of stdout.")


def format_option(writers: dict, default: str, help: str):
    """--format, choosing among the writers of a dispatch table."""
    return click.option("--format", "output_format", type=click.Choice(sorted(writers)), default=default,
                        show_default=True, help=help)


patients_argument = click.argument("patients", nargs=-1, required=True,
                                   type=click.Path(dir_okay=True, allow_dash=True))


def _evaluation_options(argument):
    def decorate_all(command):
        for decorate in reversed((argument, input_format_option, now_option, order_option, thresholds_option)):
            command = decorate(command)
        return command
    return decorate_all


# The argument and options of the verbs that evaluate one patient graph, or several.
patient_options = _evaluation_options(patient_argument)
patients_options = _evaluation_options(patients_argument)
