"""Options shared by the ``geo311`` commands, declared once (rasterio ``rio`` style).

Values are checked while the command line is parsed: a wrong ``--as-of``,
``--timezone``, ``--period`` or ``--vintage`` stops the command before any
file is read, with one line naming the option (an
:class:`~geo311._errors.OptionError`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from geo311._errors import OptionError
from geo311.io.values import check_timezone, parse_as_of, parse_period

__all__ = [
    "as_of_opt",
    "as_of_values",
    "city_opt",
    "data_dir_opt",
    "district_layer_opt",
    "echo_selection",
    "family_opt",
    "keep_raw_opt",
    "layers_opt",
    "max_days_opt",
    "no_png_opt",
    "no_tiles_opt",
    "out_opt",
    "overwrite_opt",
    "pairs",
    "period_opt",
    "placeholder_opt",
    "population_opt",
    "progress_opt",
    "quiet_opt",
    "schema_opt",
    "timezone_opt",
    "types_opt",
    "verbose_opt",
    "vintage_opt",
]


# --------------------------------------------------------------------------- value checks


def _timezone(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else check_timezone(value, option="timezone")


def as_of_values(values: Sequence[str]) -> str | dict[str, str] | None:
    """Read ``--as-of`` values: one time for every file, or ``FILE=TIME`` for each.

    Each time is checked (:func:`geo311.io.values.parse_as_of`) but passed on
    as written: a time without an offset is read in the city's time zone,
    which only the library knows.

    Parameters
    ----------
    values : sequence of str
        Either one date/time (``"2025-01-31 17:00"``), or any number of
        ``FILE=TIME`` pairs (``"sr311_2019.csv=2019-10-21T15:50"``), where
        ``FILE`` is an input file's name or path.

    Returns
    -------
    str or dict of str to str or None
        None for no value, the time for one plain value, else ``{file: time}``.

    Raises
    ------
    OptionError
        A time that is not a date or time; plain times and ``FILE=TIME``
        pairs mixed; a file named twice; more than one plain time.

    Examples
    --------
    >>> as_of_values(["a.csv=2025-01-31", "b.csv=2025-02-28 17:00"])
    {'a.csv': '2025-01-31', 'b.csv': '2025-02-28 17:00'}
    >>> as_of_values(["2025-01-31"])
    '2025-01-31'
    """
    if not values:
        return None
    pairs = [v.split("=", 1) for v in values if "=" in v]
    plain = [v for v in values if "=" not in v]
    if plain and (pairs or len(plain) > 1):
        msg = (
            f"--as-of takes one time for every file or FILE=TIME for each file, got "
            f"{list(values)}; write e.g. --as-of a.csv=2025-01-31 --as-of b.csv=2025-02-28"
        )
        raise OptionError(msg)
    if plain:
        parse_as_of(plain[0], option="as_of")
        return plain[0]
    names = [name.strip() for name, _ in pairs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated or not all(names):
        msg = f"--as-of names each input file once (FILE=TIME); repeated or empty: {repeated}"
        raise OptionError(msg)
    times = [time.strip() for _, time in pairs]
    for time in times:
        parse_as_of(time, option="as_of")
    return dict(zip(names, times, strict=True))


def echo_selection(metadata: Mapping[str, Any]) -> None:
    """Print the service types a run's ``--type`` / ``--family`` matched, one line each.

    Parameters
    ----------
    metadata : mapping
        :attr:`geo311.pipeline.PipelineResult.metadata`; nothing is printed
        without a ``type_selection``.
    """
    selection = metadata.get("type_selection") or {}
    for name, types in (selection.get("families") or {}).items():
        click.echo(f'--family "{name}": {", ".join(types)}')
    for term, types in (selection.get("terms") or {}).items():
        click.echo(f'--type "{term}" matched {len(types)}: {", ".join(types)}')


def _as_of(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> str | dict[str, str] | None:
    return as_of_values(values)


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
    multiple=True,
    callback=_as_of,
    help=(
        "When the export was taken: censoring time for open requests. One time for every "
        "file, or FILE=TIME for each (repeatable); default: each file's latest timestamp."
    ),
)


def _placeholders(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float] | None:
    options: dict[str, float] = {}
    for name, text in pairs(ctx, param, values).items():
        try:
            number = float(text)
        except ValueError:
            msg = f"--placeholder {name}={text!r}: the value must be a number"
            raise OptionError(msg) from None
        options[name] = int(number) if number.is_integer() and "." not in text else number
    return options or None


placeholder_opt = click.option(
    "--placeholder",
    "placeholders",
    multiple=True,
    callback=_placeholders,
    metavar="NAME=VALUE",
    help="Override a placeholder threshold of the profile (repeatable): min_count, min_share, "
    "min_addresses, min_address_share, radius_m, coarse_decimals.",
)

max_days_opt = click.option(
    "--max-days",
    type=click.FloatRange(min=0, min_open=True),
    help="Exclude durations longer than this many days as implausible (METRICS 6; "
    "default: keep every duration).",
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

types_opt = click.option(
    "--type",
    "types",
    multiple=True,
    help="Only service types matching this (repeatable): case-insensitive, a whole name or "
    "part of one (e.g. 'recycling' matches SW-Recycling); the matches are listed.",
)

family_opt = click.option(
    "--family",
    "families",
    multiple=True,
    help="Only the service types of this family of the city manifest's [families] "
    "(repeatable), e.g. 'missed pickup'.",
)

keep_raw_opt = click.option(
    "--keep-raw",
    is_flag=True,
    help="Also keep every source column verbatim as raw_<name> (the label checks of "
    "`geo311 join --qa` read them).",
)

no_png_opt = click.option("--no-png", is_flag=True, help="Skip the static PNG of each map.")

data_dir_opt = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of boundary files, searched first (DIR/<city>/<file>, then DIR/<file>); "
    "default: beside the manifest, then $GEO311_DATA_DIR, then the user cache.",
)

progress_opt = click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars on stderr for steps that take more than a few seconds "
    "(default: only when stderr is a terminal and CI is not set).",
)

verbose_opt = click.option(
    "-v",
    "--verbose",
    count=True,
    help="More output: -v every geo311 log line and tracebacks, -vv third-party debug too.",
)

quiet_opt = click.option(
    "-q", "--quiet", count=True, help="Less output (-q warnings only, -qq errors)."
)
