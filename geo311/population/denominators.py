"""Population denominators and areal interpolation from census tracts to any layer.

Census counts and ACS estimates come per tract; indicators need them per
neighbourhood, council district, police district or any layer a user loads.
This module reads the tract tables and moves their variables across.

:func:`read_tract_table` / :func:`tract_table_from_frame`
    A table keyed by 11-character tract GEOID (CSV, or the attribute table of
    a GeoJSON / GeoPackage) as :class:`Denominators`: numeric variables, ACS
    margins of error renamed ``<variable>_moe``, source and year.
:func:`interpolate`
    Areal interpolation in a projected CRS.  *Extensive* variables (counts)
    are split by the share of each source polygon's area that falls in each
    target and summed; *intensive* variables (rates, medians) are averaged
    with weights equal to the intersection areas.  Margins of error are
    propagated.  With ``weights=`` the areas are replaced by the area of
    inhabited land (a dasymetric mask, e.g. from :func:`land_use_weights`).
:func:`layer_population`
    The call the indicators use: population, housing units and median
    household income (with its MOE) per area of a layer.

Method
------
For source polygon *i* (a tract), target *j* and the intersection
``A_ij = area(s_i ∩ t_j)`` (or, with a mask, the weighted inhabited area
``Σ_k w_k · area(s_i ∩ t_j ∩ m_k)``):

* extensive: ``x_j = Σ_i (A_ij / D_i) x_i`` with ``D_i = Σ_j A_ij``, the part
  of source *i* that some target covers (``allocate_total=True``, so a layer
  that covers every tract receives the whole tract total, even when it leaves
  out the harbour water), or ``D_i = area(s_i)`` (``allocate_total=False``:
  the share of a tract lying outside every target is lost, and reported).
* intensive: ``x_j = Σ_i (A_ij / C_j) x_i`` with ``C_j = Σ_i A_ij`` over the
  sources with a value: the mean over the covered part of the target.
* MOE of an extensive sum: ``sqrt(Σ_i (A_ij / D_i · MOE_i)²)`` — the ACS
  handbook's approximation for a sum of estimates, each scaled by a fixed
  allocation share.  MOE of an intensive mean: ``sqrt(Σ_i (A_ij / C_j ·
  MOE_i)²)``, the same formula for a weighted mean with fixed weights and
  independent tract errors.  For a median this is an approximation (a mean
  of tract medians is not the median of the pooled households); it is exact
  when the target lies inside one tract.  Both keep the MOEs' confidence
  level (90 % for ACS).

Missing values: an extensive target that receives a share of a source with a
missing value is missing (the sum is unknown); an intensive mean is taken over
the sources that have a value (their weights re-normalised) and is missing only
when none covers the target.  On inputs without missing values the results
match ``tobler``'s ``area_interpolate`` to 1e-9 (relative) when tobler is given
a float64 area table; tobler's own table is float32, so its default agrees to
about 1e-7.  tobler replaces missing values by 0 (and writes the 0 into its
input); geo311 does neither.

Accuracy and dasymetric weights
-------------------------------
Against Baltimore's 2020 block counts (``scripts/interpolation_accuracy.py``),
plain areal weighting places 15.6 % of residents in the wrong 2010
neighbourhood (median absolute error 22 %) and 1.5 % in the wrong council
district.  Weighting by residential land (``land_use_weights`` of the NSA
``type`` column: parks, industrial areas and campuses get nobody) lowers this
to 11.0 % and 1.1 %.  A source with no residential land keeps plain area, so
totals are unchanged.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> tracts = gpd.GeoDataFrame(
...     {"pop": [100.0, 300.0], "income": [20_000.0, 60_000.0]},
...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
...     crs="EPSG:26985",
... )
>>> wards = gpd.GeoDataFrame(
...     {"area_id": ["west", "middle"]},
...     geometry=[box(0, 0, 50, 100), box(50, 0, 150, 100)],
...     crs="EPSG:26985",
... )
>>> out = interpolate(tracts, wards, extensive=["pop"], intensive=["income"])
>>> out["pop"].tolist(), out["income"].tolist(), out["covered_share"].tolist()
([50.0, 350.0], [20000.0, 40000.0], [1.0, 1.0])

The east half of the second tract lies outside every ward.  By default its
people go to the ward that covers the rest of the tract (``allocate_total``);
without that, they are lost and the loss is reported:

>>> lost = interpolate(tracts, wards, extensive="pop", allocate_total=False)
>>> lost["pop"].tolist(), lost.attrs["totals"]["pop"]["difference"]
([50.0, 200.0], -150.0)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError

from geo311._errors import CRSError, InputFileError, SchemaError
from geo311.join.layers import Layer

__all__ = [
    "DEFAULT_EXTENSIVE",
    "DEFAULT_INTENSIVE",
    "Denominators",
    "interpolate",
    "land_use_weights",
    "layer_population",
    "read_tract_table",
    "tract_table_from_frame",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Output name -> table columns tried in order for :func:`layer_population`'s
#: extensive variables: an exact column name, or for a Census variable code a
#: column starting with ``<code>_`` (``P1_001N`` finds ``P1_001N_pop_2020``).
DEFAULT_EXTENSIVE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "population": ("P1_001N", "pop_2020", "population"),
        "housing_units": ("H1_001N", "housing_units_2020", "housing_units"),
    }
)
#: The same for intensive variables (area-weighted means).
DEFAULT_INTENSIVE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"median_hh_income": ("B19013_001E", "median_hh_income")}
)

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
_CENSUS_CODE = re.compile(r"^[A-Z]+\d+[A-Z]*_\d{3}[A-Z]*$")  # P1_001N, B19013_001E

#: How :func:`interpolate` propagates margins of error (recorded in ``attrs``).
MOE_METHOD = (
    "extensive: sqrt(sum((share * MOE)^2)), the ACS handbook approximation for sums; "
    "intensive: sqrt(sum((weight * MOE)^2)), a weighted mean of independent tract "
    "estimates with fixed weights (approximate for medians)"
)


# --------------------------------------------------------------------------- denominators


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


# --------------------------------------------------------------------------- interpolation


def land_use_weights(
    areas: gpd.GeoDataFrame | Layer,
    *,
    column: str = "type",
    weights: Mapping[str, float] | None = None,
    default: float = 0.0,
) -> gpd.GeoDataFrame:
    """Turn a land-use classified polygon layer into a dasymetric weight layer.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame or Layer
        Polygons with a land-use class column (e.g. Baltimore's neighbourhood
        files, ``type``: Residential / Industrial area / Business park /
        Park/open space / Institutional area).  Not modified.
    column : str, default "type"
        The class column.
    weights : mapping of str to float, optional
        Relative residential density per class; default
        ``{"Residential": 1.0}``.
    default : float, default 0.0
        Weight of classes not in ``weights``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``column``, ``weight`` and geometry, in the input's CRS, without the
        zero-weight polygons; pass it as ``weights=`` with
        ``weight_column="weight"``.

    Raises
    ------
    SchemaError
        The class column is missing, or a weight is negative or not finite.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> areas = gpd.GeoDataFrame(
    ...     {"type": ["Residential", "Park/open space"]},
    ...     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:26985",
    ... )
    >>> land_use_weights(areas)[["type", "weight"]]
              type  weight
    0  Residential     1.0
    """
    frame = areas.gdf if isinstance(areas, Layer) else areas
    if column not in frame.columns:
        msg = f"land_use_weights: no column {column!r}; columns are {list(frame.columns)}"
        raise SchemaError(msg)
    table = dict(weights) if weights is not None else {"Residential": 1.0}
    values = [*table.values(), default]
    if not all(np.isfinite(v) and v >= 0 for v in values):
        msg = f"land_use_weights: weights must be finite and >= 0, got {table} (default {default})"
        raise SchemaError(msg)
    weight = frame[column].map(table).astype("float64").fillna(default)
    out = gpd.GeoDataFrame(
        {column: frame[column].to_numpy(), "weight": weight.to_numpy()},
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )
    return out.loc[out["weight"] > 0].reset_index(drop=True)


def _names(values: Iterable[str] | str, what: str) -> list[str]:
    if isinstance(values, str):
        return [values]
    out = list(values)
    if len(set(out)) != len(out):
        msg = f"{what} variables repeat: {out}"
        raise SchemaError(msg)
    return out


def _crs_text(crs: Any) -> str:
    return "none" if crs is None else CRS.from_user_input(crs).to_string()


def _check_crs(frames: Mapping[str, gpd.GeoDataFrame]) -> None:
    missing = [name for name, frame in frames.items() if frame.crs is None]
    if missing:
        have = ", ".join(f"{name}: {_crs_text(f.crs)}" for name, f in frames.items())
        msg = (
            f"interpolate: {' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} "
            f"no CRS ({have}). Set the CRS the coordinates are in with "
            "frame.set_crs('EPSG:...') (not to_crs, which needs a CRS to start from); "
            "both inputs are then reprojected to projected_crs for the areas."
        )
        raise CRSError(msg)


def _area_crs(
    projected_crs: str | CRS | None,
    default: str | None,
    source: gpd.GeoDataFrame,
    target: gpd.GeoDataFrame,
) -> CRS:
    """Choose the CRS for areas: given, the layer's, a projected input's, or UTM."""
    chosen = projected_crs if projected_crs is not None else default
    if chosen is None:
        for frame in (source, target):
            if CRS.from_user_input(frame.crs).is_projected:
                return CRS.from_user_input(frame.crs)
        return CRS.from_user_input(source.estimate_utm_crs())
    try:
        crs = CRS.from_user_input(chosen)
    except PyprojCRSError as exc:
        msg = f"interpolate: projected_crs {chosen!r} is not a CRS pyproj understands"
        raise CRSError(msg) from exc
    if not crs.is_projected:
        msg = (
            f"interpolate: projected_crs {crs.to_string()} is not projected; areas need a "
            "projected CRS such as the city's state plane (e.g. EPSG:26985) or "
            "source.estimate_utm_crs()"
        )
        raise CRSError(msg)
    return crs


def _geoms(frame: gpd.GeoDataFrame, crs: CRS, role: str, notes: dict[str, int]) -> np.ndarray:
    geoms = np.asarray(frame.geometry.to_crs(crs).array, dtype=object)
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid])
        notes[f"{role}_repaired"] = int(invalid.sum())
        log.warning("%s: %d invalid geometries repaired for interpolation", role, invalid.sum())
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        notes[f"{role}_empty"] = int(empty.sum())
    return geoms


def _numeric(frame: pd.DataFrame, column: str, role: str) -> FloatArray:
    if column not in frame.columns:
        msg = f"interpolate: {role} has no column {column!r}; columns are {list(frame.columns)}"
        raise SchemaError(msg)
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        msg = f"interpolate: {role} column {column!r} is not numeric (dtype {values.dtype})"
        raise SchemaError(msg)
    out = values.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(out).any():
        msg = f"interpolate: {role} column {column!r} has infinite values"
        raise SchemaError(msg)
    return out


def _mask_area(geoms: np.ndarray, mask: np.ndarray, mask_weight: FloatArray) -> FloatArray:
    """Weighted area of each geometry lying inside the mask polygons."""
    if len(geoms) == 0 or len(mask) == 0:
        return np.zeros(len(geoms))
    geom_idx, mask_idx = shapely.STRtree(mask).query(geoms, predicate="intersects")
    inside = shapely.area(shapely.intersection(geoms[geom_idx], mask[mask_idx]))
    return np.asarray(
        np.bincount(geom_idx, weights=inside * mask_weight[mask_idx], minlength=len(geoms)),
        dtype="float64",
    )


def _share(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _sum_by(index: IntArray, values: FloatArray, size: int) -> FloatArray:
    return np.asarray(np.bincount(index, weights=values, minlength=size), dtype="float64")


def _weighted(
    index: IntArray, weight: FloatArray, values: FloatArray, size: int
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Σ weight·value per group, and a flag of groups touched by a missing value."""
    used = weight > 0
    nan = np.isnan(values) & used
    total = _sum_by(index, np.where(nan | ~used, 0.0, weight * values), size)
    touched = _sum_by(index, nan.astype("float64"), size) > 0
    return total, touched


def _rss(index: IntArray, weight: FloatArray, moe: FloatArray, size: int) -> FloatArray:
    used = weight > 0
    nan = np.isnan(moe) & used
    total = _sum_by(index, np.where(nan | ~used, 0.0, (weight * moe) ** 2), size)
    out = np.sqrt(total)
    out[_sum_by(index, nan.astype("float64"), size) > 0] = np.nan
    return out


@dataclass(frozen=True)
class _Pieces:
    """Overlapping source/target pairs and the measure each pair is allocated by."""

    src_idx: IntArray
    tgt_idx: IntArray
    area: FloatArray  # plain intersection area of each pair
    measure: FloatArray  # area, or weighted inhabited area with the per-source fallback
    src_den: FloatArray  # per source: what its value is shared over
    n_src: int
    n_tgt: int
    covered: FloatArray  # per target: share of its area covered by sources
    fallback_sources: int
    weights_text: str


def _pieces(
    src: np.ndarray,
    tgt: np.ndarray,
    *,
    weights: gpd.GeoDataFrame | None,
    weight_column: str | None,
    crs: CRS,
    allocate_total: bool,
) -> _Pieces:
    n_src, n_tgt = len(src), len(tgt)
    tgt_idx, src_idx = shapely.STRtree(src).query(tgt, predicate="intersects")
    pieces = shapely.intersection(src[src_idx], tgt[tgt_idx])
    area = shapely.area(pieces)
    keep = area > 0  # pairs that only touch along an edge share nothing
    src_idx, tgt_idx, pieces, area = src_idx[keep], tgt_idx[keep], pieces[keep], area[keep]
    covered = _share(_sum_by(tgt_idx, area, n_tgt), shapely.area(tgt))
    measure = area
    src_whole = shapely.area(src)
    fallback = 0
    text = "area"
    if weights is not None:
        mask = np.asarray(weights.geometry.to_crs(crs).array, dtype=object)
        if weight_column is None:
            density = np.ones(len(mask))
        else:
            density = _numeric(weights, weight_column, "weights")
            if np.isnan(density).any() or (density < 0).any():
                msg = f"interpolate: weights column {weight_column!r} must be present and >= 0"
                raise SchemaError(msg)
        masked = _mask_area(pieces, mask, density)
        if allocate_total:
            src_masked = _sum_by(src_idx, masked, n_src)
        else:
            src_masked = _mask_area(src, mask, density)
        no_land = src_masked <= 0
        fallback = int(np.count_nonzero(no_land[np.unique(src_idx)]))
        measure = np.where(no_land[src_idx], area, masked)
        src_whole = np.where(no_land, src_whole, src_masked)
        text = f"dasymetric: {len(mask)} mask polygons" + (
            f", density column {weight_column!r}" if weight_column else ""
        )
    src_den = _sum_by(src_idx, measure, n_src) if allocate_total else src_whole
    return _Pieces(
        src_idx=src_idx,
        tgt_idx=tgt_idx,
        area=area,
        measure=measure,
        src_den=src_den,
        n_src=n_src,
        n_tgt=n_tgt,
        covered=covered,
        fallback_sources=fallback,
        weights_text=text,
    )


def _extensive(
    p: _Pieces, x: FloatArray, moe: FloatArray | None
) -> tuple[FloatArray, FloatArray | None, dict[str, float]]:
    share = _share(p.measure, p.src_den[p.src_idx])
    est, touched = _weighted(p.tgt_idx, share, x[p.src_idx], p.n_tgt)
    est[touched] = np.nan
    est_moe = None if moe is None else _rss(p.tgt_idx, share, moe[p.src_idx], p.n_tgt)
    before, after = float(np.nansum(x)), float(np.nansum(est))
    total = {
        "source": before,
        "target": after,
        "difference": after - before,
        "relative_difference": (after - before) / before if before else 0.0,
    }
    return est, est_moe, total


def _intensive(
    p: _Pieces, x: FloatArray, moe: FloatArray | None, *, masked: bool
) -> tuple[FloatArray, FloatArray | None, int]:
    values = x[p.src_idx]
    has = ~np.isnan(values)
    den = _sum_by(p.tgt_idx, np.where(has, p.measure, 0.0), p.n_tgt)
    weight = p.measure
    fallback = 0
    if masked:  # a target with no inhabited land at all: plain area instead
        plain = _sum_by(p.tgt_idx, np.where(has, p.area, 0.0), p.n_tgt)
        no_land = (den <= 0) & (plain > 0)
        fallback = int(no_land.sum())
        weight = np.where(no_land[p.tgt_idx], p.area, p.measure)
        den = np.where(no_land, plain, den)
    share = _share(np.where(has, weight, 0.0), den[p.tgt_idx])
    est, _ = _weighted(p.tgt_idx, share, values, p.n_tgt)
    est[den <= 0] = np.nan
    est_moe = None
    if moe is not None:
        est_moe = _rss(p.tgt_idx, share, moe[p.src_idx], p.n_tgt)
        est_moe[den <= 0] = np.nan
    return est, est_moe, fallback


def _target_ids(frame: gpd.GeoDataFrame, target_id: str | None) -> pd.Index:
    if target_id is None:
        ids = frame.index.copy()
    elif target_id in frame.columns:
        ids = pd.Index(frame[target_id].to_numpy(), name=target_id)
    else:
        msg = (
            f"interpolate: target has no id column {target_id!r}; columns are "
            f"{list(frame.columns)} (target_id=None uses the index)"
        )
        raise SchemaError(msg)
    if ids.hasnans or not ids.is_unique:
        dupes = ids[ids.duplicated()].unique().tolist()[:10]
        msg = f"interpolate: target ids must be present and unique (duplicates: {dupes})"
        raise SchemaError(msg)
    return ids


def _moe_arrays(
    source: gpd.GeoDataFrame, variables: Sequence[str], moe: Mapping[str, str] | None
) -> dict[str, FloatArray]:
    if moe is None:
        chosen = {v: f"{v}_moe" for v in variables if f"{v}_moe" in source.columns}
    else:
        chosen = dict(moe)
        unknown = [v for v in chosen if v not in variables]
        if unknown:
            msg = f"interpolate: MOE given for {unknown}, which are not interpolated variables"
            raise SchemaError(msg)
    return {v: _numeric(source, c, "source") for v, c in chosen.items()}


def interpolate(
    source: gpd.GeoDataFrame,
    target: gpd.GeoDataFrame | Layer,
    *,
    extensive: Iterable[str] | str = (),
    intensive: Iterable[str] | str = (),
    moe: Mapping[str, str] | None = None,
    projected_crs: str | CRS | None = None,
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = None,
    allocate_total: bool = True,
    target_id: str | None = "area_id",
) -> pd.DataFrame:
    """Move variables from source polygons (tracts) to target polygons by area.

    Parameters
    ----------
    source : geopandas.GeoDataFrame
        Source polygons with the variables as numeric columns; not modified.
        ``source.attrs["source"]`` / ``["year"]``, if set, are passed on.
    target : geopandas.GeoDataFrame or Layer
        Target polygons; not modified.
    extensive : str or iterable of str, default ()
        Count variables: split by area share and summed.
    intensive : str or iterable of str, default ()
        Rates, means and medians: area-weighted means.
    moe : mapping of str to str, optional
        Variable -> its margin-of-error column.  By default a column named
        ``<variable>_moe`` is used when present; ``{}`` propagates none.
    projected_crs : str or pyproj.CRS, optional
        Projected CRS the areas are measured in.  Default: the target
        Layer's ``projected_crs``, else the source's CRS if projected, else
        the target's if projected, else the UTM zone of the source.  Both
        inputs are reprojected to it, so they need not share a CRS.
    weights : geopandas.GeoDataFrame, optional
        Dasymetric mask: polygons of inhabited land (non-overlapping; any
        CRS).  Areas are then measured inside the mask only, weighted by
        ``weight_column``.  A source with no masked land in it falls back to
        plain area (counted in ``attrs["fallback_sources"]``), and so does an
        intensive target (``attrs["fallback_targets"]``), so nothing is lost.
        See :func:`land_use_weights`.
    weight_column : str, optional
        Column of ``weights`` with each polygon's relative density (>= 0);
        default 1 for every polygon.
    allocate_total : bool, default True
        True: each source's value is shared among the targets in proportion
        to the parts of it they cover, so the whole total arrives whenever a
        target touches the source.  False: shares are of the source's whole
        area (or masked land), so the value of a part outside every target is
        lost (the difference is reported in ``attrs["totals"]``).
    target_id : str or None, default "area_id"
        Target column that identifies the areas (unique); None uses the
        target's index.

    Returns
    -------
    pandas.DataFrame
        Indexed by the target ids, in target order: each variable (float),
        followed by ``<variable>_moe`` when it has a MOE, then
        ``covered_share``, the share of the target's area covered by source
        polygons.  ``attrs`` holds ``method`` (``"area_weighted"`` or
        ``"dasymetric"``), ``crs``, ``weights``, ``allocate_total``,
        ``moe_method``, ``source``, ``year``, ``extensive``, ``intensive``,
        counts (``n_source``, ``n_target``, ``pairs``,
        ``sources_outside_targets``, ``fallback_sources``,
        ``fallback_targets``) and ``totals``: per extensive variable, its
        ``source`` and ``target`` totals, ``difference`` and
        ``relative_difference``.

    Raises
    ------
    CRSError
        Source, target or weights has no CRS, or ``projected_crs`` is not a
        projected CRS.
    SchemaError
        A variable is missing or not numeric, a variable is both extensive
        and intensive, the target ids are missing or not unique, weights are
        negative.

    Notes
    -----
    The method and the MOE formulas are in the module docstring.  Pairs of
    polygons are found with a shapely STRtree and intersected in one
    vectorised call; sums use ``numpy.bincount``.
    """
    target_layer = target if isinstance(target, Layer) else None
    target_frame = target.gdf if isinstance(target, Layer) else target
    ext = _names(extensive, "extensive")
    inten = _names(intensive, "intensive")
    both = sorted(set(ext) & set(inten))
    if both:
        msg = f"interpolate: {both} given as both extensive and intensive"
        raise SchemaError(msg)
    frames = {"source": source, "target": target_frame}
    if weights is not None:
        frames["weights"] = weights
    _check_crs(frames)
    ids = _target_ids(target_frame, target_id)
    values = {v: _numeric(source, v, "source") for v in (*ext, *inten)}
    moes = _moe_arrays(source, list(values), moe)
    crs = _area_crs(
        projected_crs,
        target_layer.projected_crs if target_layer is not None else None,
        source,
        target_frame,
    )
    notes: dict[str, int] = {}
    p = _pieces(
        _geoms(source, crs, "source", notes),
        _geoms(target_frame, crs, "target", notes),
        weights=weights,
        weight_column=weight_column,
        crs=crs,
        allocate_total=allocate_total,
    )

    out: dict[str, FloatArray] = {}
    totals: dict[str, dict[str, float]] = {}
    for var in ext:
        est, est_moe, totals[var] = _extensive(p, values[var], moes.get(var))
        out[var] = est
        if est_moe is not None:
            out[f"{var}_moe"] = est_moe
    fallback_targets = 0
    for var in inten:
        est, est_moe, fallback = _intensive(
            p, values[var], moes.get(var), masked=weights is not None
        )
        fallback_targets = max(fallback_targets, fallback)
        out[var] = est
        if est_moe is not None:
            out[f"{var}_moe"] = est_moe
    out["covered_share"] = p.covered

    result = pd.DataFrame(out, index=ids)
    outside = int(p.n_src - np.unique(p.src_idx).size)
    attrs: dict[str, Any] = {
        "method": "area_weighted" if weights is None else "dasymetric",
        "crs": crs.to_string(),
        "weights": p.weights_text,
        "allocate_total": allocate_total,
        "moe_method": MOE_METHOD,
        "source": str(source.attrs.get("source", "")),
        "year": str(source.attrs.get("year", "")),
        "extensive": list(ext),
        "intensive": list(inten),
        "n_source": p.n_src,
        "n_target": p.n_tgt,
        "pairs": len(p.src_idx),
        "sources_outside_targets": outside,
        "fallback_sources": p.fallback_sources,
        "fallback_targets": fallback_targets,
        "totals": totals,
    }
    attrs.update(notes)
    result.attrs.update(attrs)
    summary = "; ".join(
        f"{v} {t['source']:,.0f} -> {t['target']:,.0f} (difference {t['difference']:+,.3g})"
        for v, t in totals.items()
    )
    log.info(
        "interpolated %d extensive and %d intensive variables from %d sources to %d targets "
        "(%s, %s, %d pairs, %d sources outside the targets)%s",
        len(ext),
        len(inten),
        p.n_src,
        p.n_tgt,
        attrs["method"],
        attrs["crs"],
        len(p.src_idx),
        outside,
        f": {summary}" if summary else "",
    )
    return result


# --------------------------------------------------------------------------- per-layer


def _resolve(
    table: Denominators, spec: Mapping[str, str | Sequence[str]], *, required: set[str]
) -> dict[str, str]:
    """Output name -> table column: each candidate as a name, or a Census code as a prefix."""
    out: dict[str, str] = {}
    problems = []
    for name, wanted in spec.items():
        candidates = [wanted] if isinstance(wanted, str) else list(wanted)
        found = None
        for candidate in candidates:
            if candidate in table.variables:
                found = candidate
                break
            if not _CENSUS_CODE.match(candidate):
                continue
            prefixed = [v for v in table.variables if v.startswith(f"{candidate}_")]
            if len(prefixed) == 1:
                found = prefixed[0]
                break
        if found is not None:
            out[name] = found
        elif name in required:
            problems.append(f"{name!r} (looked for {candidates})")
        else:
            log.info(
                "%s: no column for %s (looked for %s); skipped", table.source, name, candidates
            )
    if problems:
        msg = (
            f"the denominator table {table.source!r} has no column for "
            f"{', '.join(problems)}; its variables are {list(table.variables)}"
        )
        raise SchemaError(msg)
    return out


def _tract_frame(tracts: gpd.GeoDataFrame | Layer, tract_id: str) -> gpd.GeoDataFrame:
    frame = tracts.gdf if isinstance(tracts, Layer) else tracts
    if tract_id not in frame.columns:
        msg = f"tracts have no id column {tract_id!r}; columns are {list(frame.columns)}"
        raise SchemaError(msg)
    return frame


def layer_population(
    layer: gpd.GeoDataFrame | Layer,
    *,
    tracts: gpd.GeoDataFrame | Layer,
    table: Denominators | None = None,
    extensive: Mapping[str, str | Sequence[str]] | None = None,
    intensive: Mapping[str, str | Sequence[str]] | None = None,
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = None,
    projected_crs: str | CRS | None = None,
    tract_id: str = "area_id",
    target_id: str = "area_id",
) -> pd.DataFrame:
    """Interpolate population, housing units and median household income to a layer.

    Parameters
    ----------
    layer : Layer or geopandas.GeoDataFrame
        The target layer (neighbourhoods, council districts ...).
    tracts : Layer or geopandas.GeoDataFrame
        Census tract polygons with their GEOID in ``tract_id``.
    table : Denominators, optional
        Tract values (e.g. ``read_tract_table("tract_demographics.csv")``).
        Default: the numeric attribute columns of ``tracts``.
    extensive, intensive : mapping of str to str or sequence of str, optional
        Output column -> table column (or candidates, tried in order: an
        exact name, or a Census variable code such as ``P1_001N`` that the
        column name starts with, ``P1_001N_pop_2020``).  Default
        :data:`DEFAULT_EXTENSIVE` (population, housing_units) and
        :data:`DEFAULT_INTENSIVE` (median_hh_income); of the defaults only
        population is required.
    weights, weight_column : optional
        Dasymetric mask, as in :func:`interpolate`.
    projected_crs : str or pyproj.CRS, optional
        As in :func:`interpolate`; default the layer's (or the tracts')
        ``projected_crs``.
    tract_id, target_id : str, default "area_id"
        Id columns of the tracts and of the layer.

    Returns
    -------
    pandas.DataFrame
        Indexed by the layer's ids: the output columns (each followed by
        ``<name>_moe`` where the table has a MOE) and ``covered_share``.
        When the layer is the tract layer itself (same ids and geometries)
        the tract values pass through unchanged.  ``attrs``: those of
        :func:`interpolate` plus ``source``, ``year`` and ``variables``
        (output -> ``{"column", "year", "kind"}``), with ``totals`` keyed by
        output name.

    Raises
    ------
    SchemaError
        A tract of ``tracts`` has no row in the table (listing them), or a
        requested column is missing.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> tracts = gpd.GeoDataFrame(
    ...     {"area_id": ["24510000100", "24510000200"], "pop_2020": [100, 300]},
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs="EPSG:26985",
    ... )
    >>> wards = gpd.GeoDataFrame(
    ...     {"area_id": ["A", "B"]},
    ...     geometry=[box(0, 0, 50, 100), box(50, 0, 200, 100)],
    ...     crs="EPSG:26985",
    ... )
    >>> layer_population(wards, tracts=tracts)["population"].tolist()
    [50.0, 350.0]
    """
    tract_frame = _tract_frame(tracts, tract_id)
    if table is None:
        table = tract_table_from_frame(
            pd.DataFrame(tract_frame.drop(columns=tract_frame.geometry.name)),
            id_column=tract_id,
            source=(tracts.source if isinstance(tracts, Layer) else "") or "tract layer",
            year=tracts.vintage if isinstance(tracts, Layer) else None,
        )
    ext = _resolve(
        table,
        extensive if extensive is not None else DEFAULT_EXTENSIVE,
        required=set(extensive) if extensive is not None else {"population"},
    )
    inten = _resolve(
        table,
        intensive if intensive is not None else DEFAULT_INTENSIVE,
        required=set(intensive) if intensive is not None else set(),
    )
    clash = sorted(set(ext) & set(inten))
    if clash:
        msg = f"layer_population: {clash} asked for as both extensive and intensive"
        raise SchemaError(msg)

    geoids = tract_frame[tract_id].astype(str)
    absent = sorted(set(geoids) - set(table.table.index))
    if absent:
        msg = (
            f"the denominator table {table.source!r} has no row for {len(absent)} of the "
            f"{len(geoids)} tracts: {absent[:10]}{' ...' if len(absent) > 10 else ''}"
        )
        raise SchemaError(msg)
    extra = len(set(table.table.index) - set(geoids))
    if extra:
        log.info("%s: %d table rows match no tract polygon; ignored", table.source, extra)

    columns = {**ext, **inten}
    rows = table.table.loc[geoids.to_numpy()]
    data: dict[str, Any] = {}
    moe: dict[str, str] = {}
    for name, column in columns.items():
        data[name] = rows[column].to_numpy(dtype="float64", na_value=np.nan)
        if column in table.moe:
            data[f"{name}_moe"] = rows[table.moe[column]].to_numpy(
                dtype="float64", na_value=np.nan
            )
            moe[name] = f"{name}_moe"
    source = gpd.GeoDataFrame(data, geometry=tract_frame.geometry.to_numpy(), crs=tract_frame.crs)
    source.attrs = {"source": table.source, "year": table.year}

    target_frame = layer.gdf if isinstance(layer, Layer) else layer
    crs = projected_crs
    if crs is None:
        for candidate in (layer, tracts):
            if isinstance(candidate, Layer) and candidate.projected_crs:
                crs = candidate.projected_crs
                break
    variables = {
        name: {
            "column": column,
            "year": table.column_year(column),
            "kind": "extensive" if name in ext else "intensive",
        }
        for name, column in columns.items()
    }
    if _same_polygons(target_frame, target_id, tract_frame, tract_id):
        result = _pass_through(
            source, geoids, list(columns), moe, target_frame[target_id], extensive=list(ext)
        )
        log.info(
            "population for %d tracts passed through unchanged from %s",
            len(result),
            table.source,
        )
    else:
        result = interpolate(
            source,
            layer,
            extensive=list(ext),
            intensive=list(inten),
            moe=moe,
            projected_crs=crs,
            weights=weights,
            weight_column=weight_column,
            target_id=target_id,
        )
    result.attrs.update(source=table.source, year=table.year, variables=variables)
    return result


def _same_polygons(
    target: gpd.GeoDataFrame, target_id: str, tracts: gpd.GeoDataFrame, tract_id: str
) -> bool:
    """Whether the target layer is the tract layer: same ids and equal geometries."""
    if target_id not in target.columns or len(target) != len(tracts):
        return False
    left = target[target_id].astype(str)
    right = tracts[tract_id].astype(str)
    if set(left) != set(right) or not left.is_unique:
        return False
    if target.crs is None or tracts.crs is None or not CRS(target.crs).equals(CRS(tracts.crs)):
        return False
    order = pd.Index(right).get_indexer(left)
    mine = np.asarray(target.geometry.array, dtype=object)
    theirs = np.asarray(tracts.geometry.array, dtype=object)[order]
    return bool(shapely.equals(mine, theirs).all())


def _pass_through(
    source: gpd.GeoDataFrame,
    geoids: pd.Series,
    names: Sequence[str],
    moe: Mapping[str, str],
    ids: pd.Series,
    *,
    extensive: Sequence[str],
) -> pd.DataFrame:
    """Return the tract values in the layer's order (the layer is the tract layer)."""
    order = [c for name in names for c in (name, moe.get(name)) if c is not None]
    rows = pd.Index(geoids.to_numpy()).get_indexer(ids.astype(str).to_numpy())
    values = source[order].to_numpy(dtype="float64")[rows]
    frame = pd.DataFrame(values, columns=order, index=pd.Index(ids.to_numpy(), name=ids.name))
    frame["covered_share"] = 1.0
    totals = {}
    for name in extensive:
        total = float(np.nansum(frame[name]))
        totals[name] = {
            "source": total,
            "target": total,
            "difference": 0.0,
            "relative_difference": 0.0,
        }
    frame.attrs.update(
        {
            "method": "identity",
            "crs": "",
            "extensive": list(extensive),
            "intensive": [n for n in names if n not in extensive],
            "weights": "none",
            "allocate_total": True,
            "moe_method": "unchanged",
            "n_source": len(frame),
            "n_target": len(frame),
            "pairs": len(frame),
            "sources_outside_targets": 0,
            "fallback_sources": 0,
            "fallback_targets": 0,
            "totals": totals,
        }
    )
    return frame
