"""Options shared by the ``geo311`` commands, declared once (rasterio ``rio`` style).

Values are checked while the command line is parsed: a wrong ``--as-of``,
``--timezone``, ``--period`` or ``--vintage`` stops the command before any
file is read, with one line naming the option (an
:class:`~geo311._errors.OptionError`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from geo311._errors import OptionError
from geo311.io.values import check_timezone, parse_as_of, parse_period

__all__ = [
    "as_of_opt",
    "city_opt",
    "district_layer_opt",
    "layers_opt",
    "no_png_opt",
    "no_tiles_opt",
    "out_opt",
    "overwrite_opt",
    "pairs",
    "period_opt",
    "population_opt",
    "quiet_opt",
    "schema_opt",
    "timezone_opt",
    "verbose_opt",
    "vintage_opt",
]


# --------------------------------------------------------------------------- value checks


def _timezone(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else check_timezone(value, option="timezone")


def _as_of(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    # Checked here, but passed on as written: a time without an offset is read
    # in the city's time zone, which only the library knows.
    if value is not None:
        parse_as_of(value, option="as_of")
    return value


def _period(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[str | None, str | None] | None:
    return parse_period(value, option="period") if value else None


def pairs(_ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """``NAME=VALUE`` options (repeatable) as a dict."""
    out = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip() or not rest.strip():
            msg = f"--{param.name} expects NAME=VALUE, got {value!r}"
            raise OptionError(msg)
        out[name.strip()] = rest.strip()
    return out


# --------------------------------------------------------------------------- options


def out_opt(
    help_text: str, *, required: bool = True, default: Path | None = None
) -> Callable[[Any], Any]:
    """``--out``: where the command writes (its meaning differs per command)."""
    return click.option(
        "--out",
        required=required and default is None,
        default=default,
        show_default=default is not None,
        type=click.Path(path_type=Path),
        help=help_text,
    )


overwrite_opt = click.option("--overwrite", is_flag=True, help="Replace existing outputs.")


def city_opt(*, required: bool) -> Callable[[Any], Any]:
    """``--city``: a built-in city or a boundary manifest TOML."""
    return click.option(
        "--city",
        required=required,
        help="Built-in city (baltimore, los_angeles) or a boundary manifest TOML.",
    )


schema_opt = click.option("--schema", help="Profile name or profile TOML path (default: detect).")

layers_opt = click.option(
    "--layer",
    "layers",
    multiple=True,
    help="Layer key (repeatable; default: the layers the city maps).",
)


def district_layer_opt(default: str | None = None) -> Callable[[Any], Any]:
    """``--district-layer``: the layer with one page per area."""
    return click.option(
        "--district-layer",
        default=default,
        show_default=default is not None,
        help="Layer with one page per area ('' for none; default: the city's districts).",
    )


as_of_opt = click.option(
    "--as-of",
    "as_of",
    callback=_as_of,
    help="When the export was taken; censoring time for open requests (default: latest).",
)

timezone_opt = click.option(
    "--timezone",
    callback=_timezone,
    help="Override the profile's IANA time zone, e.g. America/Chicago.",
)

period_opt = click.option(
    "--period", callback=_period, help="START:END, half-open, local dates or times."
)

vintage_opt = click.option(
    "--vintage",
    "vintages",
    multiple=True,
    callback=pairs,
    help="Pin a vintage: LAYER=VINTAGE (repeatable).",
)

population_opt = click.option(
    "--population", type=click.Path(path_type=Path), help="Tract table CSV (GEOID)."
)

no_tiles_opt = click.option(
    "--no-tiles", is_flag=True, help="No basemap (the pages never go online)."
)

no_png_opt = click.option("--no-png", is_flag=True, help="Skip the static PNG of each map.")

verbose_opt = click.option(
    "-v", "--verbose", count=True, help="More output (-v debug and tracebacks)."
)

quiet_opt = click.option(
    "-q", "--quiet", count=True, help="Less output (-q warnings only, -qq errors)."
)
