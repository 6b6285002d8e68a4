"""How each indicator column is titled, formatted, flagged and coloured on a map.

:data:`INDICATORS` holds the map settings of the headline columns; any other
column gets settings derived from the data dictionary (:func:`indicator_spec`).
:func:`format_value` formats a value the way maps, legends and pages show it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from geo311.catalogue import DATA_DICTIONARY, IndicatorSpec, MapStyle, mapped_indicators

__all__ = [
    "INDICATORS",
    "MIN_COUNT",
    "NOT_REACHED",
    "NO_DENOMINATOR",
    "Indicator",
    "ci_columns",
    "days_floor",
    "flag_label",
    "followup_days",
    "format_value",
    "indicator_spec",
    "not_reached_text",
    "reached_state",
]

log = logging.getLogger(__name__)

#: Fewer counted requests than this makes an estimate "unstable" (METRICS.md 1).
MIN_COUNT = 20

#: En dash between the ends of a range.
DASH = "\u2013"


#: Area status of a time-to-close value the data do not reach (a median not reached,
#: a share past the follow-up horizon): its own state, never "insufficient data".
NOT_REACHED = "not_reached"

#: What a page says of a layer without any population (``rate_flag`` ``no_denominator``):
#: its rates are not computed, never "population 0" nor "insufficient data".
NO_DENOMINATOR = "no population denominator for this layer"


def flag_label(flag: str, min_count: int, *, followup: str | None = None) -> str:
    """Legend and tooltip text of an area status (ok / unstable / insufficient / not reached).

    ``followup`` is the follow-up horizon in words ("2.8 days") for the
    :data:`NOT_REACHED` state.

    Examples
    --------
    >>> flag_label("unstable", 20), flag_label("insufficient", 20)
    ('unstable: fewer than 20 requests', 'insufficient data')
    >>> flag_label("not_reached", 20, followup="2.8 days")
    'not reached within the data (over 2.8 days)'
    >>> flag_label("no_denominator", 20)
    'no population denominator for this layer'
    """
    if flag == "no_denominator":
        return NO_DENOMINATOR
    if flag == "unstable":
        return f"unstable: fewer than {min_count} requests"
    if flag == NOT_REACHED:
        return f"not reached within the data (over {followup})" if followup else "not reached"
    return "insufficient data" if flag == "insufficient" else flag


def reached_state(flag: object) -> str | None:
    """Return :data:`NOT_REACHED` for a time-to-close flag the data do not reach, else None.

    The indicator tables write ``"not reached (> N days)"`` for a median or
    90th percentile and ``"beyond follow-up (N days)"`` for a share.

    Examples
    --------
    >>> reached_state("not reached (> 2.8 days)"), reached_state("beyond follow-up (2.8 days)")
    ('not_reached', 'not_reached')
    >>> reached_state("ok") is None, reached_state(None) is None
    (True, True)
    """
    text = str(flag).strip().lower() if isinstance(flag, str) else ""
    return NOT_REACHED if text.startswith(("not reached", "beyond follow-up")) else None


_FOLLOWUP = re.compile(r"(\d+(?:\.\d+)?) days")


def followup_days(flag: object, followup: object = None) -> float:
    """Return the follow-up horizon in days: ``followup`` when a number, else read from the flag.

    Examples
    --------
    >>> followup_days("not reached (> 2.8 days)"), followup_days("ok", 2.85)
    (2.8, 2.85)
    """
    try:
        number = float(followup)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if math.isfinite(number):
        return number
    match = _FOLLOWUP.search(flag) if isinstance(flag, str) else None
    return float(match.group(1)) if match else math.nan


def days_floor(days: float) -> str:
    """Return a number of days rounded down to one decimal ("" when missing).

    Examples
    --------
    >>> days_floor(2.8503), days_floor(float("nan"))
    ('2.8', '')
    """
    if not math.isfinite(days):
        return ""
    return format_value(math.floor(days * 10) / 10, "days")


def not_reached_text(fmt: str, followup: float) -> str:
    """Say a value the data do not reach in words: a duration "over N days", a share unknown.

    The follow-up is rounded down (2.85 days reads "over 2.8 days"): the
    value is only known to exceed it, so the text never claims more.

    Examples
    --------
    >>> not_reached_text("days", 2.8451)
    'over 2.8 days (not reached)'
    >>> not_reached_text("percent", 2.8451)
    'not estimated: the data follow requests for only 2.8 days'
    """
    days = days_floor(followup)
    if fmt == "days":
        return f"over {days} days (not reached)" if days else "not reached within the data"
    if days:
        return f"not estimated: the data follow requests for only {days} days"
    return "not estimated: beyond the days the data follow requests"


@dataclass(frozen=True)
class Indicator:
    """How one indicator column is titled, formatted, coloured and flagged on a map.

    Attributes
    ----------
    title : str
        Legend title and tooltip label.
    unit : str
        Unit stated under the legend title.
    fmt : str
        Number format: ``rate``, ``days``, ``percent`` (a 0-1 share shown as %),
        ``ratio``, ``count`` or ``number``.
    palette : str
        ``sequential`` or ``diverging`` (centred on 1, for ratios).
    ci : tuple of str or None
        Lower and upper 95% CI columns; None applies :func:`ci_columns`.
    flag : str or None
        Column with ``ok`` / ``unstable`` / ``insufficient`` (``rate_flag``).
    count : str or None
        Count column; fewer than ``min_count`` (default :data:`MIN_COUNT`)
        marks an area unstable.
    denominator : str or None
        What the indicator is relative to, stated in the legend.
    uses_population : bool
        Whether the denominator is residents (then the population source is
        quoted in the legend and the tooltip).
    open_ended : bool
        Whether a missing upper CI limit means "not reached" (the interval is
        open-ended, as for a Kaplan-Meier median) rather than "not available".
    center : float
        The neutral value of a diverging palette (1 for ratios, 0 for differences).
    """

    title: str
    unit: str
    fmt: str = "number"
    palette: str = "sequential"
    ci: tuple[str, str] | None = None
    flag: str | None = None
    count: str | None = None
    denominator: str | None = None
    uses_population: bool = False
    open_ended: bool = False
    center: float = 1.0


def _map_settings(spec: IndicatorSpec) -> Indicator:
    """Return the map settings of a catalogue indicator that has a ``map`` style."""
    style = spec.map or MapStyle(spec.unit)
    rule = spec.small_number
    return Indicator(
        spec.label,
        style.unit,
        spec.fmt,
        palette=style.palette,
        flag=spec.state or (rule.flag if rule is not None else None),
        count=rule.count if rule is not None else None,
        denominator=style.denominator,
        uses_population=style.uses_population,
        open_ended=style.open_ended,
    )


#: Map settings by column: every mapped indicator of :mod:`geo311.catalogue`, and the
#: disparity score of the per-area disparity table (METRICS 13), which centres on 0.
INDICATORS: dict[str, Indicator] = {
    **{spec.name: _map_settings(spec) for spec in mapped_indicators()},
    "disparity": Indicator(
        "Share of requests vs share of residents",
        "percentage points: the area's share of the city's requests minus its share of "
        "the city's residents",
        "points",
        palette="diverging",
        denominator="residents",
        uses_population=True,
        center=0.0,
    ),
}


_UNIT_FORMATS = {
    "share (0-1)": "percent",
    "days": "days",
    "ratio": "ratio",
    "requests": "count",
    "persons": "count",
}


def ci_columns(column: str, columns: Sequence[str]) -> tuple[str, str] | None:
    """Return the 95% CI columns of ``column`` among ``columns``, or None.

    The rule: ``<column>_ci_low``/``_ci_high``; for a ``<stem>_share`` column,
    ``<stem>_ci_low``/``_ci_high``.

    Examples
    --------
    >>> ci_columns("on_time_share", ["on_time_share", "on_time_ci_low", "on_time_ci_high"])
    ('on_time_ci_low', 'on_time_ci_high')
    >>> ci_columns("requests", ["requests"]) is None
    True
    """
    stems = [column]
    if column.endswith("_share"):
        stems.append(column.removesuffix("_share"))
    for stem in stems:
        pair = (f"{stem}_ci_low", f"{stem}_ci_high")
        if pair[0] in columns and pair[1] in columns:
            return pair
    return None


def indicator_spec(column: str, columns: Sequence[str] = ()) -> Indicator:
    """Return the map settings of ``column``: from :data:`INDICATORS`, else the data dictionary.

    Examples
    --------
    >>> indicator_spec("rate_ratio").palette
    'diverging'
    >>> indicator_spec("requests_resident").fmt
    'count'
    """
    spec = INDICATORS.get(column)
    if spec is None:
        description, unit, _ = DATA_DICTIONARY.get(column, (column, "", ""))
        fmt = _UNIT_FORMATS.get(unit, "rate" if " per " in unit else "number")
        palette = "diverging" if fmt == "ratio" else "sequential"
        title = column.replace("_", " ").capitalize()
        spec = Indicator(title, unit if unit != "share (0-1)" else "%", fmt, palette)
        log.debug(
            "no map settings for %s (%s); derived from the data dictionary", column, description
        )
    if spec.ci is None:
        found = ci_columns(column, columns)
        if found is not None:
            spec = Indicator(**{**spec.__dict__, "ci": found})
    return spec


def format_value(
    value: object, fmt: str, *, missing: str = "n/a", decimals: int | None = None
) -> str:
    """Format one indicator value for people, as maps, legends and the site show it.

    Parameters
    ----------
    value : object
        A number; None, NA, NaN, infinities and non-numbers give ``missing``.
    fmt : str
        ``rate`` and ``days`` (one decimal), ``percent`` (a 0-1 share shown
        as %), ``ratio`` (two decimals), ``count`` (whole number) or
        ``number`` (four significant digits, never in exponent notation) or
        ``points`` (a difference of 0-1 shares, in signed percentage points).
    missing : str, default "n/a"
        Text for a missing value.
    decimals : int, optional
        Decimals instead of the format's own (legends use more when classes
        would otherwise read alike, e.g. "0.0 - 0.0"); not for ``count``.

    Returns
    -------
    str

    Examples
    --------
    >>> format_value(72.0712, "rate"), format_value(0.7275, "percent"), format_value(1234, "count")
    ('72.1', '72.8%', '1,234')
    >>> format_value(12345.0, "number"), format_value(float("nan"), "ratio")
    ('12,345', 'n/a')
    >>> format_value(0.0213, "points"), format_value(0.0213, "rate", decimals=3)
    ('+2.1 pts', '0.021')
    """
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return missing
    if not math.isfinite(number):
        return missing
    if fmt == "percent":
        return f"{100 * number:.{1 if decimals is None else decimals}f}%"
    if fmt == "points":
        return f"{100 * number:+.{1 if decimals is None else decimals}f} pts"
    if decimals is not None and fmt != "count":
        return f"{number:,.{decimals}f}"
    pattern = _FORMATS.get(fmt, "{:,.4g}" if abs(number) < 1000 else "{:,.0f}")
    return pattern.format(number)


_FORMATS = {"ratio": "{:.2f}", "count": "{:,.0f}", "rate": "{:,.1f}", "days": "{:,.1f}"}
