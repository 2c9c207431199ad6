"""acr-kg recommend PATIENT...: applicable variants, their ratings, conflicts and next steps."""
from __future__ import annotations

import sys

import click

from kg.cli.options import format_option, output_option, patients_options
from kg.errors import UsageError
from kg.input import read_patients
from kg.input.batches import BATCH_SIZE
from kg.output import RECOMMENDATION_WRITERS, STREAMING
from kg.output.files import output_stream
from kg.recommend import Engine


@click.command("recommend")
@patients_options
@format_option(RECOMMENDATION_WRITERS, "text",
               "Text for clinicians, JSON (an array for several patients), JSON Lines (one answer a line), "
               "or the derived facts as Turtle.")
@output_option
def command(patients, input_format, now, order, thresholds, output_format, output):
    """Recommend imaging for each PATIENT (Turtle, JSON-LD or FHIR R4 file, a Bulk Data folder, or - for stdin).

    Several patients are evaluated together, in batches, and answered in the order given. Exit 0 with
    an answer for every patient (including "no criteria apply"), 1 when any patient's data violate the
    shapes (for that patient only the violations are printed), 2 for unreadable input or wrong usage,
    before anything is printed.
    """
    if list(patients).count("-") > 1:
        raise UsageError("stdin (-) can be given only once")
    # all read before any answer; a FHIR record may hold several patients
    data = [one for patient in patients for one in read_patients(patient, input_format, now=now, order=order)]
    engine = Engine()
    write = RECOMMENDATION_WRITERS[output_format]
    valid = True
    with output_stream(output) as out, _progress(len(data)) as progress:
        answers = []
        for start in range(0, len(data), BATCH_SIZE):
            chunk = engine.recommend_many(data[start:start + BATCH_SIZE], now=now, thresholds=thresholds)
            valid &= all(result.valid for result in chunk)
            if output_format in STREAMING:  # written as they come; text answers are separated by a blank line
                out.write(("\n" if start and output_format == "text" else "") + write(chunk))
            else:
                answers += chunk
            progress.update(len(chunk))
        if output_format not in STREAMING:
            out.write(write(answers))
    sys.exit(0 if valid else 1)


def _progress(total: int):
    """A progress bar with rate and ETA on stderr, for many patients and a person watching."""
    from tqdm import tqdm

    return tqdm(total=total, unit="patient", file=sys.stderr, disable=total < 2 or not sys.stderr.isatty())
