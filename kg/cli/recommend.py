"""acr-kg recommend PATIENT: applicable variants, their ratings, conflicts and next steps."""
from __future__ import annotations

import sys

import click

from kg.cli.options import format_option, patient_options
from kg.patient import read_patient
from kg.recommend import Recommender
from kg.render import RECOMMENDATION_WRITERS


@click.command("recommend")
@patient_options
@format_option(RECOMMENDATION_WRITERS, "text", "Text for clinicians, JSON, or the derived facts as Turtle.")
def command(patient, input_format, now, thresholds, output_format):
    """Recommend imaging for PATIENT (Turtle or JSON-LD file, or - for stdin).

    Exit 0 with an answer (including "no criteria apply"), 1 when the data violate the shapes (only the
    violations are printed), 2 for unreadable input or wrong usage.
    """
    data = read_patient(patient, input_format)
    result = Recommender().recommend(data, now=now, thresholds=thresholds)
    click.echo(RECOMMENDATION_WRITERS[output_format](result), nl=False)
    sys.exit(0 if result.valid else 1)
