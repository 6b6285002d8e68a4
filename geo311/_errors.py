"""Exceptions raised by geo311.

Every error geo311 raises on purpose derives from :class:`Geo311Error`, so a
caller (and the CLI) can tell "your input is wrong, here is what to do" apart
from a bug.  Where the standard library has an apt base class the error also
derives from it (``SchemaError`` is a ``ValueError``; ``InputFileError`` is an
``OSError``), so generic ``except ValueError`` code keeps working.
"""

from __future__ import annotations

__all__ = [
    "CRSError",
    "FetchError",
    "Geo311Error",
    "GeocodeError",
    "InputFileError",
    "OutputExistsError",
    "ProfileError",
    "SchemaError",
    "TimestampError",
]


class Geo311Error(Exception):
    """Root of every error geo311 raises deliberately."""


class CRSError(Geo311Error, ValueError):
    """A layer or frame has no CRS, or CRSs that should match do not."""


class FetchError(Geo311Error):
    """A download failed: bad status, retries exhausted, or a body that is not what was asked.

    The message names the URL (without credentials), what went wrong and what
    to try next.
    """


class GeocodeError(Geo311Error, ValueError):
    """A geocoder, reference table or geocoder answer cannot be used."""


class InputFileError(Geo311Error, OSError):
    """An input path is missing, empty, a directory, or not in a readable format."""


class OutputExistsError(Geo311Error, FileExistsError):
    """An output file exists and overwriting was not requested."""


class SchemaError(Geo311Error, ValueError):
    """A frame or file does not match the column contract it is expected to follow."""


class ProfileError(SchemaError):
    """A schema profile (TOML) is invalid, unknown, or cannot be chosen for a file."""


class TimestampError(SchemaError):
    """Too many timestamps could not be parsed with the profile's formats."""
