"""``acr-kg build``: write the generated ontology files, or with ``--check`` report stale ones."""
from __future__ import annotations

import sys

import click

from kg.kb.build import stale_files, write_all


@click.command("build")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a generated file is missing or out of date.")
def command(check: bool):
    """Generate the derived ontology files (such as ontology/kb/populations.ttl)."""
    if check:
        stale = stale_files()
        for relative in stale:
            click.echo(f"stale: {relative} (run `acr-kg build`)", err=True)
        if stale:
            sys.exit(1)
        click.echo("generated files are up to date")
        return
    changed = write_all()
    for relative in changed:
        click.echo(f"wrote {relative}")
    if not changed:
        click.echo("generated files are up to date")
