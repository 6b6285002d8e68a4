"""Validate option values once, for the library and the command line alike.

Each function takes the value a user gave (a keyword argument or a CLI
option), returns it in the form the pipeline uses, and otherwise raises
:class:`~geo311._errors.OptionError` with one line naming the option, what is
wrong and an example of a valid value.  The CLI calls them from click
callbacks, so a bad ``--timezone``, ``--as-of`` or ``--period`` fails before
any file is read; the readers call them too, so the API fails as early.

Examples
--------
>>> check_timezone("America/Chicago")
'America/Chicago'
>>> parse_as_of("2019-11-01", timezone="America/New_York")
Timestamp('2019-11-01 04:00:00+0000', tz='UTC')
>>> parse_period("2019-10-01:")
('2019-10-01', None)
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import re
import zoneinfo
from functools import cache
from typing import Final

import numpy as np
import pandas as pd

from geo311._errors import OptionError

__all__ = ["check_timezone", "parse_as_of", "parse_period"]

log = logging.getLogger(__name__)

#: Names that mean UTC itself; accepted with a warning and returned as "UTC".
_UTC_ALIASES: Final = frozenset(
    {
        "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "Etc/GMT", "Etc/GMT0",
        "Etc/GMT+0", "Etc/GMT-0", "Etc/Greenwich", "GMT", "GMT0", "GMT+0", "GMT-0",
        "Greenwich", "UCT", "Universal", "Zulu",
    }
)  # fmt: skip
#: Legacy zones with a fixed offset or US rules from 1967, and the IANA name to use.
_LEGACY: Final = {
    "EST": "America/New_York",
    "EST5EDT": "America/New_York",
    "CST6CDT": "America/Chicago",
    "MST": "America/Phoenix",
    "MST7MDT": "America/Denver",
    "PST8PDT": "America/Los_Angeles",
    "HST": "Pacific/Honolulu",
}
#: An example region for a fixed offset from UTC, in hours (west is negative).
_OFFSET_EXAMPLES: Final = {
    -10: "Pacific/Honolulu",
    -9: "America/Anchorage",
    -8: "America/Los_Angeles",
    -7: "America/Denver",
    -6: "America/Chicago",
    -5: "America/New_York",
    -4: "America/Halifax",
    -3: "America/Sao_Paulo",
    0: "Europe/London",
    1: "Europe/Paris",
    2: "Europe/Athens",
    3: "Europe/Istanbul",
    5: "Asia/Karachi",
    8: "Asia/Shanghai",
    9: "Asia/Tokyo",
    10: "Australia/Sydney",
}
#: ``UTC+5``, ``GMT-04:00``, ``Etc/GMT+5``, ``+05:00``: an offset, not a place.
_FIXED_OFFSET: Final = re.compile(
    r"^(?:(?P<etc>Etc/GMT)|UTC|GMT)?\s*(?P<sign>[+-])(?P<hours>\d{1,2})(?::?\d{2})?$"
)
#: An ISO 8601 date, or date and time, optionally with Z or a UTC offset.
_ISO_INSTANT: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
    r"(?:\s*(?:Z|[+-]\d{2}(?::?\d{2})?))?$"
)
_AS_OF_EXAMPLE: Final = "2019-11-01 or 2019-11-01T00:00:00-04:00"
_PERIOD_EXAMPLE: Final = "2019-10-01:2019-11-01"


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory", "posixrules"})


def _flag(option: str) -> str:
    """Return how to name the option: ``as_of`` -> ``--as-of``; other text as given."""
    return "--" + option.replace("_", "-") if option.isidentifier() else option


def _fixed_offset_advice(match: re.Match[str]) -> str:
    hours = int(match["hours"]) * (1 if match["sign"] == "+" else -1)
    if match["etc"]:  # POSIX sign convention: Etc/GMT+5 is five hours *behind* UTC
        hours = -hours
    example = _OFFSET_EXAMPLES.get(hours, "America/New_York")
    return (
        f"a fixed UTC offset ({hours:+d} h) ignores daylight saving time; use the IANA name "
        f"of the city's region, e.g. {example}"
    )


def check_timezone(name: str, *, option: str = "timezone") -> str:
    """Return ``name`` if it is an IANA time-zone name fit for city wall times.

    Refused with the name to use instead: unknown names (``Mars/Phobos``),
    fixed UTC offsets (``UTC+5``, ``Etc/GMT+5``, ``-05:00``) and the legacy
    US abbreviations (``EST``, ``EST5EDT``, ``PST8PDT`` ...), which do not
    follow a city's daylight-saving rules.  ``UTC`` is fine; its aliases
    (``Etc/UTC``, ``GMT``, ``Zulu`` ...) are accepted with a warning and
    returned as ``"UTC"``.

    Parameters
    ----------
    name : str
        The time-zone name given.
    option : str, default "timezone"
        The option's name, used in the message: an identifier is shown as its
        command-line flag (``--timezone``), any other text as given
        (``"profile timezone"``).

    Returns
    -------
    str
        The name (``"UTC"`` for a UTC alias).

    Raises
    ------
    OptionError
        Naming the option, the value and an IANA name to use.

    Examples
    --------
    >>> check_timezone("America/Los_Angeles")
    'America/Los_Angeles'
    >>> check_timezone("EST")
    Traceback (most recent call last):
    ...
    geo311._errors.OptionError: --timezone 'EST' is a legacy fixed-offset zone ...
    """
    flag = _flag(option)
    if not isinstance(name, str):
        msg = f"{flag} must be a time-zone name, got {type(name).__name__} {name!r}"
        raise OptionError(msg)
    text = name.strip()
    if not text:
        msg = f"{flag} is empty; give an IANA time-zone name such as America/New_York"
        raise OptionError(msg)
    if text == "UTC":
        return text
    if text in _UTC_ALIASES:
        log.warning("%s %r is UTC; using the IANA name 'UTC'", flag, text)
        return "UTC"
    if text in _LEGACY:
        msg = (
            f"{flag} {text!r} is a legacy fixed-offset zone that does not follow a city's "
            f"daylight-saving rules; use the IANA name {_LEGACY[text]} (or the city's own region)"
        )
        raise OptionError(msg)
    offset = _FIXED_OFFSET.match(text)
    if offset:
        msg = f"{flag} {text!r}: {_fixed_offset_advice(offset)}"
        raise OptionError(msg)
    if text not in _known_zones():
        close = difflib.get_close_matches(text, sorted(_known_zones()), n=3, cutoff=0.75)
        hint = f"did you mean {', '.join(close)}?" if close else "e.g. America/New_York"
        msg = f"{flag} {text!r} is not an IANA zone name; {hint}"
        raise OptionError(msg)
    try:  # pandas may use its own copy of the database (pytz)
        pd.Timestamp(0, tz=text)
    except (KeyError, ValueError) as exc:  # pytz and zoneinfo: unknown zones are KeyErrors
        msg = f"{flag} {text!r} is not in the time-zone database pandas uses ({exc!r})"
        raise OptionError(msg) from exc
    return text


def _instant_text(value: str, *, flag: str, example: str = _AS_OF_EXAMPLE) -> pd.Timestamp:
    """Parse an ISO 8601 date or date-time string strictly; raise OptionError otherwise."""
    text = value.strip()
    if not text:
        msg = f"{flag} is empty; give an ISO 8601 date or time such as {example}"
        raise OptionError(msg)
    if not _ISO_INSTANT.match(text):
        words = " (relative words are not read; name the date)" if text[0].isalpha() else ""
        msg = f"{flag} {value!r} is not an ISO 8601 date or time{words}; give e.g. {example}"
        raise OptionError(msg)
    try:
        return pd.Timestamp(text)
    except ValueError as exc:
        msg = f"{flag} {value!r} is not a real date or time ({exc}); give e.g. {example}"
        raise OptionError(msg) from exc


def parse_as_of(
    value: object, *, timezone: str | None = None, option: str = "as_of"
) -> pd.Timestamp | None:
    """Return the instant an export was taken (or a censoring time) as a UTC timestamp.

    Parameters
    ----------
    value : str, datetime, pandas.Timestamp, numpy.datetime64 or None
        An ISO 8601 date or date-time (``2019-11-01``, ``2019-11-01T00:00``,
        ``2019-11-01T04:00:00Z``, ``2019-11-01 00:00-04:00``) or a datetime.
        Relative words (``now``, ``today``) are refused: leave the option
        out for the current time, so that a rerun gives the same result.
    timezone : str, optional
        IANA zone of a value without an offset; UTC when omitted.
    option : str, default "as_of"
        The option's name, used in messages.

    Returns
    -------
    pandas.Timestamp or None
        The instant in UTC; None for None.

    Raises
    ------
    OptionError
        Naming the option and an example of a valid value.

    Examples
    --------
    >>> parse_as_of("2019-11-01T04:00:00Z")
    Timestamp('2019-11-01 04:00:00+0000', tz='UTC')
    >>> parse_as_of(None) is None
    True
    """
    if value is None:
        return None
    flag = _flag(option)
    if isinstance(value, str):
        stamp = _instant_text(value, flag=flag)
    elif isinstance(value, dt.datetime | dt.date | np.datetime64):
        stamp = pd.Timestamp(value)
    else:
        msg = (
            f"{flag} must be a date or time, got {type(value).__name__} {value!r}; "
            f"give e.g. {_AS_OF_EXAMPLE}"
        )
        raise OptionError(msg)
    if stamp is pd.NaT:
        msg = f"{flag} is missing (NaT); give e.g. {_AS_OF_EXAMPLE}"
        raise OptionError(msg)
    if stamp.tzinfo is None:
        zone = check_timezone(timezone) if timezone is not None else "UTC"
        local = stamp.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        if not isinstance(local, pd.Timestamp):  # NaT: repeated or skipped wall time
            msg = (
                f"{flag} {value!r} is not a single instant in {zone} (a wall time repeated "
                "or skipped when clocks change); add its UTC offset, "
                "e.g. 2019-11-03T01:30:00-04:00"
            )
            raise OptionError(msg)
        stamp = local
    return stamp.tz_convert("UTC")


def parse_period(
    value: str | None, *, option: str = "period"
) -> tuple[str | None, str | None] | None:
    """Split a ``START:END`` period (half-open; either side may be empty).

    Each side must be an ISO 8601 date or date-time; it stays a string, read
    later as local wall time of the city unless it carries an offset.

    Parameters
    ----------
    value : str or None
        E.g. ``"2019-10-01:2019-11-01"`` or ``"2019-10-01:"``.
    option : str, default "period"
        The option's name, used in messages.

    Returns
    -------
    tuple of (str or None, str or None), or None
        ``(start, end)``; None when ``value`` is None or empty.

    Raises
    ------
    OptionError
        When there is no ``:`` or a side is not a date or time.

    Examples
    --------
    >>> parse_period("2019-10-01:2019-11-01")
    ('2019-10-01', '2019-11-01')
    >>> parse_period(":2019-11-01")
    (None, '2019-11-01')
    """
    if not value:
        return None
    flag = _flag(option)
    # Times of day contain ":" too: split at the ":" that starts the second date.
    found = re.fullmatch(r"\s*(?P<start>.*?)\s*:\s*(?P<end>(?:\d{4}-.*)?)\s*", value)
    if ":" not in value or not found:
        msg = (
            f"{flag} expects START:END of ISO 8601 dates or times (either side may be "
            f"empty), got {value!r}; e.g. {_PERIOD_EXAMPLE}"
        )
        raise OptionError(msg)
    start, end = found["start"] or None, found["end"] or None
    for side in (start, end):
        if side is not None:
            _instant_text(side, flag=flag, example=_PERIOD_EXAMPLE)
    return start, end
