"""The ``acr-kg`` command line: a thin layer over the library, one module per verb.

Errors from the library are typed (kg.errors); this is the one place that turns them into messages
on stderr and exit codes: 0 an answer, 1 invalid patient data or a failed quality check, 2 unreadable
input or wrong usage.
"""
from __future__ import annotations

import importlib
import sys

import click

from kg.errors import AcrKgError

# Verb modules; each exposes a click command named `command`.
VERBS = ("validate", "recommend", "query", "check", "release", "build", "map")


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AcrKgError as exc:
            click.echo(f"acr-kg: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="acr-kg")
def main():
    """ACR Appropriateness Criteria as linked data: validate patient graphs, derive recommendations,
    query and check the knowledge base."""


for _verb in VERBS:
    main.add_command(importlib.import_module(f"kg.cli.{_verb}").command)
