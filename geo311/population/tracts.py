"""Census tract tables: population and demographic variables keyed by tract GEOID.

:func:`read_tract_table` / :func:`tract_table_from_frame` read a table keyed by
11-character tract GEOID (CSV, or the attribute table of a GeoJSON /
GeoPackage) as :class:`Denominators`: numeric variables, ACS margins of error
renamed ``<variable>_moe``, source and year.  The values are moved to other
layers by :mod:`geo311.population.interpolation` and
:mod:`geo311.population.layer`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd

from geo311._errors import InputFileError, SchemaError

__all__ = [
    "ACS_CONTROLLED_MOE",
    "ACS_MISSING_CODES",
    "ACS_TEXT_MARKERS",
    "Denominators",
    "read_tract_table",
    "tract_table_from_frame",
]

log = logging.getLogger(__name__)


#: Values the Census Bureau's API and tidycensus write instead of an estimate
#: or MOE that could not be computed; read as missing.
ACS_MISSING_CODES = frozenset({-222222222, -333333333, -666666666, -888888888, -999999999})
#: MOE code for an estimate controlled to a fixed total: its MOE is 0 (in an
#: estimate column it is read as missing).
ACS_CONTROLLED_MOE = -555555555
#: Text markers of data.census.gov downloads meaning "no value"; read as missing.
ACS_TEXT_MARKERS = frozenset({"-", "**", "***", "*****", "N", "(X)", "null", "NULL"})

_GEOID_PREFIX = re.compile(r"^1400000US(\d{11})$")  # data.census.gov GEO_ID of a tract
_ACS_MOE = re.compile(r"^(?P<code>[A-Z]\d{5}[A-Z]{0,3}_\d{3})M(?=$|_)")
_YEAR = re.compile(r"(?:^|_)(?:acs|ACS)?((?:19|20)\d{2})$")
_LEADING_ZERO_CODE = re.compile(r"^0\d+$")


@dataclass(frozen=True, eq=False)
class Denominators:
    """A tract-level table of population and demographic variables.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by tract GEOID (11-character strings, leading zeros kept),
        index name ``"geoid"``; numeric columns only: each variable followed
        by its margin of error ``<variable>_moe`` when it has one.
    source : str
        Where the numbers come from (file name, or a description).
    year : str
        Vintage, e.g. ``"2020"`` or ``"2020, 2022"`` when the table mixes
        the 2020 Census with ACS 2018-2022 columns.
    variables : tuple of str
        The estimate columns (everything in ``table`` that is not an MOE).
    moe : mapping of str to str
        Variable -> its MOE column.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({
    ...     "geoid": ["24510010100", "24510010200"],
    ...     "pop": [3197, 3113],
    ...     "income_E": [152969.0, 117243.0],
    ...     "income_M": [34054.0, 37708.0],
    ... })
    >>> d = tract_table_from_frame(frame, source="example", year="2022")
    >>> d.variables, dict(d.moe)
    (('pop', 'income_E'), {'income_E': 'income_E_moe'})
    >>> d.table.loc["24510010200", "income_E_moe"]
    np.float64(37708.0)
    """

    table: pd.DataFrame
    source: str
    year: str
    variables: tuple[str, ...] = ()
    moe: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        moe = dict(self.moe)
        variables = tuple(self.variables) or tuple(
            c for c in self.table.columns if c not in set(moe.values())
        )
        problems = []
        missing = [c for c in (*variables, *moe.values()) if c not in self.table.columns]
        if missing:
            problems.append(f"columns {missing} are not in the table")
        unknown = [v for v in moe if v not in variables]
        if unknown:
            problems.append(f"MOEs given for {unknown}, which are not among the variables")
        if not self.table.index.is_unique:
            problems.append("the GEOID index has duplicates")
        if problems:
            msg = f"invalid Denominators ({self.source}): " + "; ".join(problems)
            raise SchemaError(msg)
        object.__setattr__(self, "variables", variables)
        object.__setattr__(self, "moe", MappingProxyType(moe))

    def __repr__(self) -> str:
        return (
            f"<Denominators {self.source!r} {self.year}: {len(self.table)} tracts, "
            f"{len(self.variables)} variables, {len(self.moe)} with MOE>"
        )

    def column_year(self, column: str) -> str:
        """Return the year a column name ends with (``_2020``, ``_acs2022``), else ``year``.

        Parameters
        ----------
        column : str
            A column of :attr:`table`.

        Returns
        -------
        str
            The four-digit year, or :attr:`year` when the name carries none.
        """
        found = _YEAR.search(column)
        return found.group(1) if found else self.year


def read_tract_table(
    path: str | Path,
    *,
    id_column: str = "geoid",
    variables: Sequence[str] | None = None,
    source: str | None = None,
    year: str | None = None,
    population_column: str | None = None,
) -> Denominators:
    """Read a table keyed by census tract GEOID.

    Parameters
    ----------
    path : str or pathlib.Path
        A CSV file, or a vector file (GeoJSON, GeoPackage ...) whose
        attributes are read and geometry ignored.
    id_column : str, default "geoid"
        Column holding the tract GEOID.  Read as text: leading zeros are kept;
        10-digit ids (a leading zero lost to a spreadsheet) are padded, and
        data.census.gov ``GEO_ID`` values (``1400000US...``) are shortened.
    variables : sequence of str, optional
        Estimate columns to keep.  By default every numeric column; text
        columns (names, codes with leading zeros) are left out.
    source : str, optional
        Description of the source; default the file name.
    year : str, optional
        Vintage; by default the distinct years the column names end with
        (``P1_001N_pop_2020`` -> ``"2020"``), or ``""``.
    population_column : str, optional
        The column holding total population, whatever its name (e.g.
        ``"pop20"``); it becomes the variable ``population``, which
        :func:`geo311.population.layer.layer_population` uses first.

    Returns
    -------
    Denominators
        See :func:`tract_table_from_frame` for the MOE column rules.

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    SchemaError
        The id column is missing, ids are missing, malformed or duplicated, or
        a numeric column has non-numeric values (each problem named with its
        column and rows).
    """
    file = Path(path).expanduser()
    if not file.is_file():
        msg = f"tract table {file} not found (or not a file)"
        raise InputFileError(msg)
    try:
        if file.suffix.lower() in {".csv", ".txt", ".tsv"} or file.name.lower().endswith(
            (".csv.gz", ".tsv.gz")
        ):
            sep = "\t" if ".tsv" in file.name.lower() else ","
            frame = pd.read_csv(file, dtype=str, sep=sep, skipinitialspace=True)
        else:
            frame = pd.DataFrame(gpd.read_file(file, ignore_geometry=True))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        msg = f"cannot read tract table {file}: {exc}"
        raise InputFileError(msg) from exc
    if population_column is not None:
        if population_column not in frame.columns:
            msg = (
                f"tract table {file}: no population column {population_column!r}; "
                f"columns are {list(frame.columns)}"
            )
            raise SchemaError(msg)
        if population_column != "population" and "population" in frame.columns:
            msg = (
                f"tract table {file}: population_column={population_column!r} would replace "
                "its existing 'population' column; rename one of them"
            )
            raise SchemaError(msg)
        frame = frame.rename(columns={population_column: "population"})
        if variables is not None:
            variables = ["population" if v == population_column else v for v in variables]
    return tract_table_from_frame(
        frame,
        id_column=id_column,
        variables=variables,
        source=source if source is not None else file.name,
        year=year,
        origin=str(file),
    )


def tract_table_from_frame(
    frame: pd.DataFrame,
    *,
    id_column: str = "geoid",
    variables: Sequence[str] | None = None,
    source: str = "",
    year: str | None = None,
    origin: str | None = None,
) -> Denominators:
    """Build :class:`Denominators` from a frame keyed by tract GEOID.

    Margins of error are recognised by name and renamed ``<estimate>_moe``:

    * ``<name>_moe`` is the MOE of ``<name>``;
    * ``<name>_M`` is the MOE of ``<name>_E`` (or of ``<name>``);
    * an ACS variable code followed by ``M`` (``B19013_001M...``) is the MOE of
      the one column with the same code followed by ``E``
      (``B19013_001E...``), whatever follows the code.

    Census API codes for "not computed" (``-666666666`` and the like) and
    data.census.gov markers (``-``, ``**``, ``(X)`` ...) are read as missing;
    an MOE of ``-555555555`` (estimate controlled) is read as 0.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; not modified.  A GeoDataFrame's geometry is ignored.
    id_column : str, default "geoid"
        Column holding the GEOID (normalised as in :func:`read_tract_table`).
    variables : sequence of str, optional
        Estimate columns to keep (their MOEs come along); default every
        numeric column.
    source : str, default ""
        Description of the source.
    year : str, optional
        Vintage; default inferred from the column names.
    origin : str, optional
        Name of the file, for error messages.

    Returns
    -------
    Denominators

    Raises
    ------
    SchemaError
        Missing id column, malformed or duplicate GEOIDs, non-numeric values
        in a numeric column, negative MOEs, an MOE column without its
        estimate.
    """
    where = origin or source or "tract table"
    if id_column not in frame.columns:
        msg = (
            f"{where}: no id column {id_column!r}; columns are {list(frame.columns)}. "
            "Pass id_column= naming the column that holds the 11-digit tract GEOID."
        )
        raise SchemaError(msg)
    ids = _normalise_geoids(frame[id_column], where=where, column=id_column)
    data = frame.drop(columns=[id_column])
    if isinstance(data, gpd.GeoDataFrame):
        data = pd.DataFrame(data.drop(columns=data.geometry.name))

    numeric: dict[str, pd.Series] = {}
    problems: list[str] = []
    wanted = None if variables is None else list(variables)
    for column in data.columns:
        chosen = wanted is None or str(column) in wanted
        found: list[str] = []
        parsed = _numeric_column(
            data[column],
            column=str(column),
            required=wanted is not None and chosen,
            problems=found,
        )
        if chosen:  # problems in columns not asked for do not matter
            problems.extend(found)
        if parsed is not None:
            numeric[str(column)] = parsed
    pairs = _moe_pairs(list(numeric), problems)
    if wanted is not None:
        missing = [v for v in wanted if v not in numeric]
        if missing:
            problems.append(f"variables {missing} are not numeric columns of the table")
    if problems:
        msg = f"{where}: " + "; ".join(problems)
        raise SchemaError(msg)

    moe_of = {est: moe for moe, est in pairs.items()}
    estimates = [c for c in numeric if c not in pairs and (wanted is None or c in wanted)]
    columns: dict[str, pd.Series] = {}
    for est in estimates:
        columns[est] = numeric[est].mask(numeric[est] == ACS_CONTROLLED_MOE)
        if est in moe_of:
            columns[f"{est}_moe"] = _clean_moe(numeric[moe_of[est]], moe_of[est], problems)
    if problems:
        msg = f"{where}: " + "; ".join(problems)
        raise SchemaError(msg)
    table = pd.DataFrame({c: v.to_numpy() for c, v in columns.items()}, index=ids)
    table.index.name = "geoid"
    if year is None:
        years = sorted({m.group(1) for c in estimates if (m := _YEAR.search(c))})
        year = ", ".join(years)
    out = Denominators(
        table=table,
        source=source,
        year=year,
        variables=tuple(estimates),
        moe={est: f"{est}_moe" for est in estimates if est in moe_of},
    )
    log.info(
        "read %d tracts from %s: %d variables (%d with MOE)",
        len(table),
        where,
        len(out.variables),
        len(out.moe),
    )
    return out


def _normalise_geoids(values: pd.Series, *, where: str, column: str) -> pd.Index:
    text = values.astype("string").str.strip()
    text = text.str.replace(_GEOID_PREFIX, r"\1", regex=True)
    text = text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)  # 24510010100.0 from a float
    short = text.str.fullmatch(r"\d{10}").fillna(value=False).astype(bool)
    if short.any():
        log.info("%s: %d ten-digit GEOIDs padded with a leading zero", where, int(short.sum()))
        text = text.where(~short, "0" + text)
    problems = []
    missing = text.isna().to_numpy()
    if missing.any():
        rows = (np.flatnonzero(missing) + 1)[:10].tolist()
        problems.append(f"{int(missing.sum())} rows have no GEOID (data rows {rows})")
    bad = (~text.str.fullmatch(r"\d{11}").fillna(value=True).astype(bool)).to_numpy()
    if bad.any():
        examples = [f"row {i + 1}: {text.iloc[i]!r}" for i in np.flatnonzero(bad)[:5]]
        problems.append(
            f"{int(bad.sum())} GEOIDs are not 11-digit tract codes ({', '.join(examples)})"
        )
    dupes = text[text.duplicated(keep=False) & text.notna()]
    if len(dupes):
        problems.append(
            f"{dupes.nunique()} GEOID(s) appear more than once: {sorted(set(dupes))[:10]}"
        )
    if problems:
        msg = f"{where}: column {column!r}: " + "; ".join(problems)
        raise SchemaError(msg)
    return pd.Index(text.astype(object).tolist(), dtype=object, name="geoid")


def _numeric_column(
    values: pd.Series, *, column: str, required: bool, problems: list[str]
) -> pd.Series | None:
    """Return the column as numbers, None for a text column; record bad values."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        parsed = values.astype("float64") if values.isna().any() else values.copy()
        return _acs_codes(parsed.reset_index(drop=True))
    text = values.astype("string").str.strip()
    text = text.mask(text.isin(ACS_TEXT_MARKERS) | (text == ""))
    present = text.notna().to_numpy()
    parsed = pd.to_numeric(text, errors="coerce").astype("float64").reset_index(drop=True)
    bad = present & parsed.isna().to_numpy()
    code = bool(text[present].str.match(_LEADING_ZERO_CODE).any())
    if not required and (not present.any() or code or bad.sum() > present.sum() / 2):
        return None  # empty, a code such as tract number "010100", or a text column
    if bad.any():
        examples = [f"row {i + 1}: {text.iloc[i]!r}" for i in np.flatnonzero(bad)[:5]]
        problems.append(
            f"column {column!r} has {int(bad.sum())} non-numeric values "
            f"({', '.join(examples)}); write numbers without thousands separators, "
            "or leave the cell empty for missing"
        )
        return None
    whole = parsed.notna().all() and bool((parsed == np.round(parsed)).all())
    return _acs_codes(parsed.astype("int64") if whole else parsed)


def _acs_codes(values: pd.Series) -> pd.Series:
    coded = values.isin(ACS_MISSING_CODES)
    if coded.any():
        log.info("%d Census 'not available' codes read as missing", int(coded.sum()))
        values = values.astype("float64").mask(coded)
    return values


def _clean_moe(values: pd.Series, column: str, problems: list[str]) -> pd.Series:
    values = values.astype("float64")
    values = values.mask(values == ACS_CONTROLLED_MOE, 0.0)
    negative = (values < 0).to_numpy()
    if negative.any():
        rows = (np.flatnonzero(negative) + 1)[:5].tolist()
        problems.append(
            f"MOE column {column!r} has {int(negative.sum())} negative values (data rows {rows})"
        )
    return values


def _moe_pairs(columns: Sequence[str], problems: list[str]) -> dict[str, str]:
    """Return MOE column -> estimate column for the numeric columns."""
    present = set(columns)
    pairs: dict[str, str] = {}
    for column in columns:
        if column.lower().endswith("_moe"):
            base = column[:-4]
            if base in present:
                pairs[column] = base
                continue
        if column.endswith(("_M", "_m")):
            base = column[:-2]
            match = next((c for c in (f"{base}_E", f"{base}_e", base) if c in present), None)
            if match is not None:
                pairs[column] = match
                continue
        code = _ACS_MOE.match(column)
        if code is not None:
            stem = re.compile(re.escape(code.group("code")) + r"E(?=$|_)")
            found = [c for c in columns if stem.match(c)]
            if len(found) == 1:
                pairs[column] = found[0]
            else:
                problems.append(
                    f"column {column!r} is an ACS margin of error, but "
                    + (
                        f"several estimate columns match: {found}"
                        if found
                        else f"no estimate column {code.group('code')}E... was found"
                    )
                )
            continue
        if column.lower().endswith("_moe"):
            problems.append(
                f"column {column!r} is a margin of error but there is no estimate column "
                f"{column[:-4]!r}"
            )
    return pairs
