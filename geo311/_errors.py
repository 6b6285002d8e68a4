"""Exceptions raised by geo311.

Every error geo311 raises on purpose derives from :class:`Geo311Error`, so a
caller (and the CLI) can tell "your input is wrong, here is what to do" apart
from a bug.  Four families say whose move it is:

* :class:`InputError` -- an input file or value is wrong (missing file,
  unreadable encoding, a column that does not fit the profile);
* :class:`ConfigError` -- a profile, a boundary manifest or an option value
  is wrong (an unknown time zone, ``--as-of notadate``);
* :class:`DataError` -- the data themselves contradict what the analysis
  needs (a boundary layer with null geometries, a CRS that does not match);
* :class:`NetworkError` -- a download failed.

Where the standard library has an apt base class the error also derives from
it (most are ``ValueError``; ``InputFileError`` is an ``OSError``), so
generic ``except ValueError`` code keeps working.  The CLI prints any of
them as one line and exits with status 2 (traceback only with ``-v``).
"""

from __future__ import annotations

__all__ = [
    "CRSError",
    "ConfigError",
    "DataError",
    "FetchError",
    "Geo311Error",
    "GeocodeError",
    "InputError",
    "InputFileError",
    "LayerError",
    "NetworkError",
    "OptionError",
    "OutputExistsError",
    "ProfileError",
    "SchemaError",
    "TimestampError",
]


class Geo311Error(Exception):
    """Root of every error geo311 raises deliberately."""


# --------------------------------------------------------------------------- families


class InputError(Geo311Error, ValueError):
    """An input file or value cannot be used as it is; the message says which and why."""


class ConfigError(Geo311Error, ValueError):
    """A profile, boundary manifest or option value is invalid."""


class DataError(Geo311Error, ValueError):
    """The data contradict what the analysis needs (geometry, CRS, coverage)."""


class NetworkError(Geo311Error):
    """A web service could not be reached or answered with something unusable."""


# --------------------------------------------------------------------------- specific errors


class InputFileError(InputError, OSError):
    """An input path is missing, empty, a directory, or not in a readable format."""


class SchemaError(InputError):
    """A frame or file does not match the column contract it is expected to follow."""


class TimestampError(SchemaError):
    """Too many timestamps could not be parsed with the profile's formats."""


class GeocodeError(InputError):
    """A geocoder, reference table or geocoder answer cannot be used."""


class ProfileError(SchemaError, ConfigError):
    """A schema profile (TOML) is invalid, unknown, or cannot be chosen for a file."""


class OptionError(ConfigError):
    """An option value (``--as-of``, ``--timezone``, ``--period`` ...) is invalid."""


class CRSError(DataError):
    """A layer or frame has no CRS, or CRSs that should match do not."""


class LayerError(DataError):
    """A boundary layer cannot be used: null or invalid geometries, swapped axes, no coverage."""


class FetchError(NetworkError):
    """A download failed: bad status, retries exhausted, or a body that is not what was asked.

    The message names the URL (without credentials), what went wrong and what
    to try next.
    """


class OutputExistsError(Geo311Error, FileExistsError):
    """An output file exists and overwriting was not requested."""
