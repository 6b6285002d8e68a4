"""A proposed schema profile: the guessed column mappings and their TOML text.

:func:`geo311.io.infer.infer_profile` returns a :class:`ProfileProposal`;
:meth:`ProfileProposal.to_toml` writes a profile that
:func:`geo311.io.profiles.load_profile` reads, with every guess commented.
:func:`toml_string` quotes user text for any TOML geo311 writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from geo311.io.profiles import MAPPABLE, REQUIRED

__all__ = ["CONFIDENT", "ColumnGuess", "ProfileProposal", "toml_string"]

#: A proposal below this confidence is written but also asked about.
CONFIDENT: Final = 0.6


def toml_string(text: str) -> str:
    r"""Return ``text`` as a TOML basic string (quoted, with escapes).

    Examples
    --------
    >>> print(toml_string('Ward "3"'))
    "Ward \"3\""
    """
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(toml_string(i) for i in items) + "]"


@dataclass(frozen=True)
class ColumnGuess:
    """One proposed mapping: a source column for a canonical target.

    Attributes
    ----------
    target : str
        A canonical column of :data:`~geo311.io.profiles.MAPPABLE`, or ``lat``,
        ``long``, ``location``.
    source : str
        The source column.
    confidence : float
        0 to 1; below :data:`CONFIDENT` the proposal is also asked about.
    name_score, value_score : float
        The two pieces of evidence, each 0 to 1.
    reasons : tuple of str
        What the scores rest on, in words.
    """

    target: str
    source: str
    confidence: float
    name_score: float
    value_score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ProfileProposal:
    """A proposed schema profile for one export, with its evidence and open questions.

    Attributes
    ----------
    name, path, format : str
        Profile name (``city``, else the file's stem), the file sampled, and its
        format (a key of :data:`geo311.io.sniff.FORMATS`).
    rows_sampled : int
    header : tuple of str
        Every source column, in file order.
    mapping : mapping of str to ColumnGuess
        Target -> proposed column, in :data:`TARGETS` order.
    timestamp_formats : tuple of str
        Formats that read the timestamp columns, best first.
    timestamps_have_offset : bool
        Whether the timestamps are instants (with a UTC offset, or epoch numbers).
    timezone : str
        The zone given, or ``"UTC"`` as a stand-in (then asked about).
    status_open, status_closed, status_unclassified : tuple of str
        The status vocabulary (case-folded), split by word and by close times.
    duplicate_patterns, transfer_patterns : tuple of str
        Words seen in status or notes that mark duplicates and transfers.
    geometry_points : bool
        The file carries its own point geometry (GeoJSON, ArcGIS JSON, GeoParquet).
    extent : tuple of float or None
        ``(west, south, east, north)`` of the sample's points in degrees.
    builtin_match : str or None
        A built-in profile whose ``detect`` columns the header has.
    questions : tuple of str
        What the user must decide, one line each.
    """

    name: str
    path: str
    format: str
    rows_sampled: int
    header: tuple[str, ...]
    mapping: Mapping[str, ColumnGuess]
    timestamp_formats: tuple[str, ...]
    timestamps_have_offset: bool
    timezone: str
    status_open: tuple[str, ...]
    status_closed: tuple[str, ...]
    status_unclassified: tuple[str, ...]
    duplicate_patterns: tuple[str, ...]
    transfer_patterns: tuple[str, ...]
    geometry_points: bool
    extent: tuple[float, float, float, float] | None
    builtin_match: str | None
    questions: tuple[str, ...]

    def to_toml(self) -> str:
        """Return the proposal as a profile TOML that :func:`.load_profile` reads.

        Every mapping carries its confidence and evidence as a comment, and
        the questions head the file, so the user knows what to check.  A
        required column for which no source column qualified is written as a
        comment, so that ``load_profile`` names it until it is filled in.

        Returns
        -------
        str
        """
        lines = [
            f"# Schema profile proposed by `geo311 schemas infer` from {Path(self.path).name}",
            f"# ({self.rows_sampled:,} rows sampled). Check every line before use.",
        ]
        if self.builtin_match:
            lines.append(f"# The header also fits the built-in profile {self.builtin_match!r}.")
        if self.questions:
            lines.append("# Questions to settle:")
            lines.extend(f"#   - {q}" for q in self.questions)
        fmt = self.format + (".gz" if self.path.lower().endswith(".gz") else "")
        detect = [self.mapping[t].source for t in REQUIRED if t in self.mapping]
        lines += [
            "",
            f"name = {toml_string(self.name)}",
            f"title = {toml_string(self.name)}",
            f"description = {toml_string('Inferred from ' + Path(self.path).name)}",
            f"timezone = {toml_string(self.timezone)}",
            f"formats = {_toml_list([fmt])}",
            f"detect = {_toml_list(detect)}",
            "case_sensitive = false",
        ]
        if self.extent is not None:
            lines += [
                "# The sample's points span this box; set bbox to the city's own extent",
                "# (rows outside it are flagged), e.g. from its boundary file:",
                "# bbox = [" + ", ".join(f"{v:.4f}" for v in self.extent) + "]",
            ]
        lines += ["", "[columns]"]
        missing = [t for t in REQUIRED if t not in self.mapping]
        lines += [f'# {t} = ""  # no column found: name the one that holds it' for t in missing]
        for target, guess in self.mapping.items():
            if target in MAPPABLE:
                lines.append(f"{target} = {toml_string(guess.source)}  # {_comment(guess)}")
        formats = _toml_list(self.timestamp_formats or ("ISO8601",))
        lines += ["", "[timestamps]", f"formats = {formats}", 'naive = "local"']
        coords = [t for t in ("lat", "long", "location") if t in self.mapping]
        if coords:
            lines += ["", "[coordinates]"]
            lines += [
                f"{t} = {toml_string(self.mapping[t].source)}  # {_comment(self.mapping[t])}"
                for t in coords
            ]
            lines.append('crs = "EPSG:4326"')
        lines += ["", "[status]", f"open = {_toml_list(self.status_open)}"]
        lines.append(f"closed = {_toml_list(self.status_closed)}")
        if self.status_unclassified:
            lines.append(f"# not classified: {_toml_list(self.status_unclassified)}")
        if self.duplicate_patterns:
            lines.append(f"duplicate = {_toml_list(self.duplicate_patterns)}")
        if self.transfer_patterns:
            lines.append(f"transfer = {_toml_list(self.transfer_patterns)}")
        return "\n".join(lines) + "\n"


def _comment(guess: ColumnGuess) -> str:
    mark = "" if guess.confidence >= CONFIDENT else "GUESS, "
    return f"{mark}confidence {guess.confidence:.2f}: " + "; ".join(guess.reasons)
