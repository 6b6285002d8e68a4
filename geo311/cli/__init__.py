"""The ``geo311`` command line: a thin layer over :mod:`geo311.pipeline` and the library.

One click group (this module) with the shared options in
:mod:`geo311.cli.options` and one module per command.  Every command parses
its options and calls the library.  A :class:`~geo311._errors.Geo311Error`
(wrong input, option, profile, missing file ...) reaches the user as one
line ``Error: ...`` on stderr and exit status 2; ``-v`` shows the traceback
instead.  Any other exception is a bug: its traceback is shown and the exit
status is 1.
"""

from __future__ import annotations

from typing import Any

import click

from geo311 import __version__
from geo311._errors import Geo311Error
from geo311.allocation import tune_memory
from geo311.cli.city import city_group
from geo311.cli.console import setup_logging
from geo311.cli.demo import demo_cmd
from geo311.cli.fetch import fetch_group
from geo311.cli.geocode import geocode_cmd
from geo311.cli.indicators import indicators_cmd
from geo311.cli.ingest import ingest_cmd
from geo311.cli.join import join_cmd
from geo311.cli.maps import maps_cmd
from geo311.cli.options import quiet_opt, verbose_opt
from geo311.cli.run import run_cmd
from geo311.cli.schemas import schemas_cmd

__all__ = ["USAGE_ERROR", "main"]

#: Exit status of a failure the user can fix (a Geo311Error), as for click's usage errors.
USAGE_ERROR = 2


class _Geo311Group(click.Group):
    """A click group that turns geo311 errors into one clear line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Geo311Error as exc:
            if ctx.meta.get("geo311.verbosity", 0) > 0:
                raise
            click.secho(f"Error: {exc}", err=True, fg="red")
            click.echo("(run with -v for the full traceback)", err=True)
            ctx.exit(USAGE_ERROR)


@click.group(cls=_Geo311Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="geo311")
@verbose_opt
@quiet_opt
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: int) -> None:
    """geo311: geospatial equity analysis of city 311 service requests."""
    verbosity = verbose - quiet
    ctx.meta["geo311.verbosity"] = verbosity
    setup_logging(verbosity)
    tune_memory()


for _command in (
    schemas_cmd,
    city_group,
    ingest_cmd,
    demo_cmd,
    join_cmd,
    indicators_cmd,
    geocode_cmd,
    fetch_group,
    maps_cmd,
    run_cmd,
):
    main.add_command(_command)
