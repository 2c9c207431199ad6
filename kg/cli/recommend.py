"""acr-kg recommend PATIENT...: applicable variants, their ratings, conflicts and next steps."""
from __future__ import annotations

import sys

import click

from kg.cli.options import format_option, patients_options
from kg.errors import UsageError
from kg.input.reader import read_patient
from kg.recommend import Recommender
from kg.output import RECOMMENDATION_WRITERS


@click.command("recommend")
@patients_options
@format_option(RECOMMENDATION_WRITERS, "text", "Text for clinicians, JSON (an array for several patients), or the derived facts as Turtle.")
def command(patients, input_format, now, thresholds, output_format):
    """Recommend imaging for each PATIENT (Turtle or JSON-LD file, or - for stdin).

    Several patients are evaluated together, in batches, and answered in the order given. Exit 0 with
    an answer for every patient (including "no criteria apply"), 1 when any patient's data violate the
    shapes (for that patient only the violations are printed), 2 for unreadable input or wrong usage,
    before anything is printed.
    """
    if list(patients).count("-") > 1:
        raise UsageError("stdin (-) can be given only once")
    data = [read_patient(patient, input_format) for patient in patients]  # all read before any answer
    results = Recommender().recommend_many(data, now=now, thresholds=thresholds)
    click.echo(RECOMMENDATION_WRITERS[output_format](results), nl=False)
    sys.exit(0 if all(result.valid for result in results) else 1)
