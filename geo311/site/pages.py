"""The static site: an index, choropleth pages, one page per council district, PNGs.

:func:`build_site` reads the folder written by ``geo311 indicators`` (per
layer ``<key>.csv``, ``.json``, ``.city.csv``, ``.patterns.csv``,
``.services.csv`` and ``.geojson``; nothing at request level) and writes::

    index.html                      coverage, exclusions, citywide figures, links
    map-<layer>-<indicator>.html    one choropleth per layer and headline indicator
    district-<id>.html              one page per council district
    png/<layer>-<indicator>.png     a static image of every map page
    site.json                       manifest: pages and sizes, displacement, counts

Every page is one self-contained HTML file by default (Leaflet, the site's CSS
and its small table-sorting script inlined).  Every string that comes from the
data (area and service names, vintages, sources) passes through Jinja's
autoescaping; only HTML generated and escaped by geo311 itself (the SVG
charts of :mod:`geo311.site.charts`, the map parts of :mod:`geo311.site.maps`) is
inserted as is.

Neighbourhoods are assigned to the council district that holds most of their
area (:func:`district_membership`, computed in a projected CRS); those split
across districts are listed in the district pages' data notes.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo311._errors import InputFileError, SchemaError
from geo311.io.atomic import atomic_write, check_overwrite
from geo311.ledger import Ledger
from geo311.site import charts, maps

__all__ = [
    "HEADLINE_INDICATORS",
    "IndicatorLayer",
    "SiteResult",
    "build_site",
    "district_membership",
    "indicator_layers",
    "read_indicator_layer",
    "slugify",
]

log = logging.getLogger(__name__)

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_WRITER = "geo311 indicators JOINED --city CITY --layer {key} --out {folder}"
_CITY = "city"
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_TRACT_KEYS = ("census_tracts", "tracts")


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class _Headline:
    """How one headline indicator is labelled, formatted and explained."""

    column: str
    slug: str
    title: str
    unit: str
    kind: str  # "rate" | "days" | "share" | "ratio": how values are formatted
    ci_low: str
    ci_high: str
    count: str  # the column counting the requests behind the value
    count_label: str
    read: tuple[str, ...]  # "how to read" sentences
    card_note: str


#: The headline indicators that get a map page and a card, by column of ``<key>.csv``.
HEADLINE_INDICATORS: dict[str, _Headline] = {
    h.column: h
    for h in (
        _Headline(
            column="rate_per_1k",
            slug="rate_per_1k",
            title="Requests per 1,000 residents",
            unit="requests per 1,000 residents",
            kind="rate",
            ci_low="rate_per_1k_ci_low",
            ci_high="rate_per_1k_ci_high",
            count="requests",
            count_label="Requests",
            read=(
                "Darker colours mean more 311 requests per 1,000 residents over the period.",
                "A high rate can mean more problems, or more residents who know about and use "
                "311; compare with the time-to-close and on-time maps before drawing "
                "conclusions.",
                "Rates from fewer than {min_count} requests are marked unstable (their 95% "
                "interval is wide); areas with fewer than {min_population} residents get no "
                "rate and are shown as insufficient data, never as zero.",
            ),
            card_note="Residents' requests divided by population, with an exact Poisson 95% "
            "interval.",
        ),
        _Headline(
            column="ttc_median_days",
            slug="ttc_median_days",
            title="Median time to close",
            unit="days",
            kind="days",
            ci_low="ttc_median_days_ci_low",
            ci_high="ttc_median_days_ci_high",
            count="ttc_requests",
            count_label="Requests timed",
            read=(
                "Half of the requests in an area were closed within this many days; darker "
                "colours mean slower service.",
                "Requests still open at the as-of time count as waiting at least that long "
                "(Kaplan-Meier estimate), so the median is not biased low by leaving them out.",
                "Where fewer than half of the requests have closed, the median cannot be "
                "estimated and the area is shown as insufficient data.",
            ),
            card_note="Kaplan-Meier median; open requests are censored at the as-of time.",
        ),
        _Headline(
            column="on_time_share",
            slug="on_time_share",
            title="Share closed on time",
            unit="% of requests with a due date",
            kind="share",
            ci_low="on_time_ci_low",
            ci_high="on_time_ci_high",
            count="sla_due",
            count_label="Requests due",
            read=(
                "The share of requests with a due date that were closed by it; open requests "
                "past their due date count as late.",
                "Open requests that are not yet due, and requests without a due date, are left "
                "out.",
            ),
            card_note="Closed by the due date, out of requests due by the as-of time (Wilson "
            "95% interval).",
        ),
        _Headline(
            column="ttc_type_adjusted_ratio",
            slug="ttc_type_adjusted_ratio",
            title="Closure speed adjusted for request type",
            unit="ratio to the city (1 = city)",
            kind="ratio",
            ci_low="ttc_type_adjusted_ratio_ci_low",
            ci_high="ttc_type_adjusted_ratio_ci_high",
            count="ttc_closed",
            count_label="Closures",
            read=(
                "Observed closures divided by the closures expected if every request closed as "
                "fast as the citywide average for its service type.",
                "Above 1: the area's requests close faster than its mix of request types "
                "predicts; below 1: slower. This removes the effect of some areas asking for "
                "slow services (e.g. tree work) more than others.",
            ),
            card_note="Observed / expected closures, standardised by service type (exact "
            "Poisson 95% interval).",
        ),
    )
}


class IndicatorLayer(NamedTuple):
    """The tables ``geo311 indicators`` wrote for one layer, as read back by the site."""

    key: str
    indicators: pd.DataFrame  # one row per area, indexed by area_id (str)
    city: pd.Series  # the citywide row
    patterns: pd.DataFrame  # tidy, column area_id (areas, then "city")
    services: pd.DataFrame  # tidy, column area_id (areas, then "city")
    areas: gpd.GeoDataFrame  # area_id, area_name, geometry (EPSG:4326)
    metadata: dict[str, Any]


class SiteResult(NamedTuple):
    """What :func:`build_site` wrote."""

    out_dir: Path
    pages: list[Path]
    sizes: dict[Path, int]  # page -> bytes
    max_displacement_m: dict[str, float]  # layer -> largest display displacement
    pngs: list[Path]


# --------------------------------------------------------------------------- lazy imports


def _jinja() -> ModuleType:
    try:
        import jinja2  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - the extra is installed in development
        msg = "the site needs Jinja2: pip install 'geo311[maps]'"
        raise ImportError(msg) from exc
    return jinja2


def _finalize(value: Any) -> Any:
    """Escape text with :func:`geo311.site.maps.escape_html` (autoescape plus the backtick)."""
    from markupsafe import Markup  # noqa: PLC0415 - a dependency of Jinja2

    if isinstance(value, str) and not isinstance(value, Markup):
        return Markup(maps.escape_html(value))
    return value


def _environment() -> Any:
    jinja2 = _jinja()
    return jinja2.Environment(
        finalize=_finalize,
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )


# --------------------------------------------------------------------------- reading


def _restore_text(values: pd.Series) -> pd.Series:
    """Undo the CSV formula-injection apostrophe (``'=x`` -> ``=x``); HTML runs no formulas."""
    text = values.astype("string")
    guarded = text.str.startswith("'") & text.str[1:2].isin(list(_DANGEROUS))
    return text.mask(guarded.fillna(False), text.str[1:])


def _read_csv(path: Path, key: str) -> pd.DataFrame:
    if not path.is_file():
        folder = path.parent
        msg = (
            f"missing {path.name} in {folder}: the site reads the tables of layer {key!r} that "
            f"`{_WRITER.format(key=key, folder=folder)}` writes"
        )
        raise InputFileError(msg)
    frame = pd.read_csv(
        path,
        dtype={"area_id": str, "area_name": str, "service_type": str, "bucket": str},
        keep_default_na=False,
        na_values=[""],
        encoding="utf-8",
    )
    for column in ("area_id", "area_name", "service_type", "bucket", "pattern", "rate_flag"):
        if column in frame:
            frame[column] = _restore_text(frame[column])
    if "area_id" not in frame:
        msg = f"{path} has no area_id column; was it written by `geo311 indicators`?"
        raise SchemaError(msg)
    return frame


def indicator_layers(indicators_dir: str | Path) -> list[str]:
    """Return the layer keys of an indicators folder (every ``<key>.json`` with a layer).

    Parameters
    ----------
    indicators_dir : str or pathlib.Path
        A folder written by ``geo311 indicators``.

    Returns
    -------
    list of str
        Sorted layer keys.

    Raises
    ------
    InputFileError
        When the folder does not exist or holds no layer.
    """
    folder = Path(indicators_dir)
    if not folder.is_dir():
        msg = (
            f"indicators folder {folder} not found; write it with "
            f"`{_WRITER.format(key='LAYER', folder=folder)}`"
        )
        raise InputFileError(msg)
    keys = []
    for path in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("layer") == path.stem:
            keys.append(path.stem)
    if not keys:
        msg = (
            f"no layer tables (<layer>.json) in {folder}; write them with "
            f"`{_WRITER.format(key='LAYER', folder=folder)}`"
        )
        raise InputFileError(msg)
    return keys


def read_indicator_layer(indicators_dir: str | Path, key: str) -> IndicatorLayer:
    """Read the tables of one layer from an indicators folder.

    Parameters
    ----------
    indicators_dir : str or pathlib.Path
        A folder written by ``geo311 indicators``.
    key : str
        Layer key, e.g. ``"neighborhoods"``.

    Returns
    -------
    IndicatorLayer
        Area ids are strings; the apostrophe that protects text cells against
        spreadsheet formula injection is removed again.

    Raises
    ------
    InputFileError
        Naming the missing file and the command that writes it.
    """
    folder = Path(indicators_dir)
    meta_path = folder / f"{key}.json"
    if not meta_path.is_file():
        msg = (
            f"missing {meta_path.name} in {folder}: the site reads the tables of layer {key!r} "
            f"that `{_WRITER.format(key=key, folder=folder)}` writes"
        )
        raise InputFileError(msg)
    metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    table = _read_csv(folder / f"{key}.csv", key).set_index("area_id")
    city = _read_csv(folder / f"{key}.city.csv", key).set_index("area_id")
    patterns = _read_csv(folder / f"{key}.patterns.csv", key)
    services = _read_csv(folder / f"{key}.services.csv", key)
    geo_path = folder / f"{key}.geojson"
    if not geo_path.is_file():
        msg = (
            f"missing {geo_path.name} in {folder}: the site reads the area outlines of layer "
            f"{key!r} that `{_WRITER.format(key=key, folder=folder)}` writes"
        )
        raise InputFileError(msg)
    areas = gpd.read_file(geo_path)
    if areas.crs is None:
        areas = areas.set_crs("EPSG:4326")
    areas = areas.to_crs("EPSG:4326")
    if "area_id" not in areas:
        msg = (
            f"{geo_path} has no area_id property (columns: {list(areas.columns)}); was it "
            "written by `geo311 indicators`?"
        )
        raise SchemaError(msg)
    areas["area_id"] = areas["area_id"].astype("string")
    names = areas["area_name"] if "area_name" in areas else pd.Series(pd.NA, index=areas.index)
    areas["area_name"] = names.astype("string").fillna(areas["area_id"])
    if "area_name" not in table:  # name the areas after the outlines, else their ids
        by_id = areas.drop_duplicates("area_id").set_index("area_id")["area_name"]
        table["area_name"] = [str(by_id.get(i, i)) for i in table.index.astype(str)]
    missing = sorted(set(table.index) - set(areas["area_id"]))
    if missing:
        msg = (
            f"{geo_path} lacks {len(missing)} area(s) of {key}.csv (e.g. {missing[:3]}); "
            "were the files written by the same `geo311 indicators` run?"
        )
        raise SchemaError(msg)
    city_row = city.iloc[0] if len(city) else pd.Series(dtype=object)
    return IndicatorLayer(key, table, city_row, patterns, services, areas, metadata)


# --------------------------------------------------------------------------- membership


def district_membership(
    areas: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    *,
    split_share: float = 0.01,
) -> pd.DataFrame:
    """Assign each area to the district that holds most of its area.

    Areas are measured in a projected CRS (``areas.estimate_utm_crs()``).
    Ties go to the district listed first.

    Parameters
    ----------
    areas, districts : geopandas.GeoDataFrame
        Each with ``area_id`` and polygons; any CRS (they must have one).
    split_share : float, default 0.01
        An area is reported as split when more than this share of it lies
        outside its district (boundaries of different vintages leave slivers
        smaller than this).

    Returns
    -------
    pandas.DataFrame
        Indexed by the areas' ``area_id``: ``district_id`` (NA when the area
        touches no district), ``share_in_district``, ``share_outside`` and
        ``split`` (bool), in the order of ``areas``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> d = gpd.GeoDataFrame({"area_id": ["W", "E"]}, geometry=[box(0, 0, 2, 2), box(2, 0, 4, 2)],
    ...                      crs="EPSG:32618")
    >>> a = gpd.GeoDataFrame({"area_id": ["a"]}, geometry=[box(1.5, 0, 2.5, 1)], crs="EPSG:32618")
    >>> district_membership(a, d)[["district_id", "share_outside", "split"]].to_dict("records")
    [{'district_id': 'W', 'share_outside': 0.5, 'split': True}]
    """
    if areas.crs is None or districts.crs is None:
        msg = "district_membership needs both layers to have a CRS; set it with .set_crs(...)"
        raise SchemaError(msg)
    crs = areas.crs if areas.crs.is_projected else areas.estimate_utm_crs()
    a_geom = np.asarray(areas.to_crs(crs).geometry.make_valid().array)
    d_geom = np.asarray(districts.to_crs(crs).geometry.make_valid().array)
    tree = shapely.STRtree(d_geom)
    pairs = tree.query(a_geom, predicate="intersects")
    overlap = shapely.area(shapely.intersection(a_geom[pairs[0]], d_geom[pairs[1]]))
    total = shapely.area(a_geom)
    district_ids = districts["area_id"].astype("string").to_numpy()
    best = np.full(len(a_geom), -1)
    best_area = np.zeros(len(a_geom))
    for i, j, value in zip(pairs[0], pairs[1], overlap, strict=True):
        if value > best_area[i] or (value == best_area[i] > 0 and j < best[i]):
            best[i], best_area[i] = j, value
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, best_area / np.where(total > 0, total, 1.0), np.nan)
    share = np.where(best >= 0, share, np.nan)
    outside = 1.0 - share
    out = pd.DataFrame(
        {
            "district_id": pd.array(
                [district_ids[j] if j >= 0 else pd.NA for j in best], dtype="string"
            ),
            "share_in_district": share,
            "share_outside": np.round(outside, 12),
            "split": np.nan_to_num(outside, nan=0.0) > split_share,
        },
        index=pd.Index(areas["area_id"].astype("string"), name="area_id"),
    )
    return out


# --------------------------------------------------------------------------- formatting


def _missing(value: Any) -> bool:
    """Return True for None, NA and NaN (text is never missing here).

    Examples
    --------
    >>> _missing(float("nan")), _missing(None), _missing("District 1"), _missing(0)
    (True, True, False, False)
    """
    if value is None or value is pd.NA:
        return True
    if isinstance(value, str):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fmt(value: Any, kind: str) -> str:
    """Format one indicator value for people ("not available" for a missing one).

    Examples
    --------
    >>> _fmt(72.0712, "rate"), _fmt(0.7275, "share"), _fmt(1.16062, "ratio"), _fmt(None, "days")
    ('72.1', '72.8%', '1.16', 'not available')
    >>> _fmt(1234, "count")
    '1,234'
    """
    return maps.format_value(value, _MAP_FORMATS.get(kind, kind), missing="not available")


#: ``_Headline.kind`` -> the :func:`geo311.site.maps.format_value` format.
_MAP_FORMATS = {"share": "percent"}


def _ci(low: Any, high: Any, kind: str) -> str:
    """Return a 95% interval in words.

    Examples
    --------
    >>> _ci(59.92, 81.34, "rate"), _ci(1.79, float("nan"), "days")
    ('95% CI 59.9 to 81.3', '95% CI 1.8 to not reached (open-ended)')
    """
    if _missing(low) and _missing(high):
        return "95% CI not available"
    upper = "not reached (open-ended)" if _missing(high) else _fmt(high, kind)
    lower = "not available" if _missing(low) else _fmt(low, kind)
    return f"95% CI {lower} to {upper}"


def _sort_value(value: Any) -> str:
    return "" if _missing(value) else repr(float(value))


def _get(row: Mapping[str, Any] | pd.Series, column: str) -> Any:
    return row.get(column, None)


def _flags(
    row: Mapping[str, Any] | pd.Series, headline: _Headline, limits: Mapping[str, Any]
) -> list[str]:
    """Plain-words warnings for one value (empty when it can be read as is)."""
    min_count, min_pop = limits["min_count"], limits["min_population"]
    value = _get(row, headline.column)
    count = _get(row, headline.count)
    flags: list[str] = []
    if headline.column == "rate_per_1k":
        flag = str(_get(row, "rate_flag") or "")
        if flag == "unstable":
            flags.append(f"unstable: fewer than {min_count} requests")
        elif flag == "insufficient" or _missing(value):
            flags.append(
                f"insufficient data: population unknown or below {min_pop:,}; no rate shown"
            )
        return flags
    if not _missing(count) and float(count) == 0:
        what = {"sla_due": "no requests with a due date", "ttc_closed": "no closures"}
        return [what.get(headline.count, "no requests")]
    if headline.column == "ttc_median_days" and _missing(value):
        flags.append("not estimable: fewer than half of the requests have closed")
    elif _missing(value):
        flags.append("not available")
    if not _missing(count) and float(count) < min_count:
        noun = {"sla_due": "requests with a due date", "ttc_closed": "closures"}
        flags.append(f"unstable: fewer than {min_count} {noun.get(headline.count, 'requests')}")
    return flags


def _card(
    headline: _Headline,
    area: Mapping[str, Any] | pd.Series | None,
    city: Mapping[str, Any] | pd.Series,
    *,
    area_label: str,
    limits: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the context of one card: area vs city (the city alone when ``area`` is None)."""
    h = headline
    unit = "" if h.kind == "share" else h.unit

    def side(row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
        value = _get(row, h.column)
        return {
            "raw": _sort_value(value),
            "value": _fmt(value, h.kind),
            "ci": _ci(_get(row, h.ci_low), _get(row, h.ci_high), h.kind),
            "flags": _flags(row, h, limits),
        }

    city_side = side(city)
    area_side = side(area) if area is not None else city_side
    count = _get(area if area is not None else city, h.count)
    note = h.card_note
    if not _missing(count):
        note = f"{note} {h.count_label}: {_fmt(count, 'count')}."
    return {
        "column": h.column,
        "city_only": area is None,
        "title": h.title,
        "unit": unit,
        "area_label": area_label,
        "area_raw": area_side["raw"],
        "area_value": area_side["value"],
        "area_ci": area_side["ci"],
        "area_flags": area_side["flags"],
        "city_raw": city_side["raw"],
        "city_value": city_side["value"],
        "city_ci": city_side["ci"],
        "city_flags": city_side["flags"],
        "note": note,
    }


def slugify(text: str, *, taken: set[str] | None = None) -> str:
    """Return a file-name-safe slug of ``text``, unique among ``taken`` (which is updated).

    Examples
    --------
    >>> taken = set()
    >>> slugify("District 1", taken=taken), slugify("district-1", taken=taken)
    ('district-1', 'district-1-2')
    >>> slugify('</script><img src=x>')
    'script-img-src-x'
    >>> slugify("")
    'x'
    """
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-") or "x"
    if taken is None:
        return slug
    candidate, n = slug, 1
    while candidate in taken:
        n += 1
        candidate = f"{slug}-{n}"
    taken.add(candidate)
    return candidate


# --------------------------------------------------------------------------- notes


def _synthetic(metadata: Mapping[str, Any]) -> bool:
    text = (
        " ".join(str(metadata.get(k) or "") for k in ("vintage", "layer_source"))
        + " "
        + str((metadata.get("denominators") or {}).get("source") or "")
    )
    return "synthetic" in text.lower()


def _limits(metadata: Mapping[str, Any]) -> dict[str, int]:
    """Return the unstable and insufficient thresholds the indicators were computed with.

    Examples
    --------
    >>> _limits({"indicators": {"min_count": 10, "min_population": None}})
    {'min_count': 10, 'min_population': 100}
    """
    info = metadata.get("indicators") or {}
    defaults = {"min_count": maps.MIN_COUNT, "min_population": 100}
    return {k: int(default if info.get(k) is None else info[k]) for k, default in defaults.items()}


def _period(metadata: Mapping[str, Any]) -> str:
    info = metadata.get("indicators") or {}
    period = info.get("period") or {}
    start, end = period.get("start"), period.get("end")
    if not start and not end:
        return f"all requests created up to the as-of time ({info.get('as_of') or 'unknown'})"
    return f"from {start or 'the first request'} up to (not including) {end or 'the as-of time'}"


def _population_text(metadata: Mapping[str, Any]) -> str:
    denominators = metadata.get("denominators") or {}
    info = metadata.get("indicators") or {}
    source = denominators.get("source") or info.get("population_source") or ""
    year = denominators.get("year")
    if not source:
        return "no population given: rates are not available"
    variables = denominators.get("variables") or {}
    column_year = (variables.get("population") or {}).get("year")
    text = f"{source}"
    if year:
        text += f", year {year}"
    if column_year and column_year != year:
        text += f" (population column year {column_year})"
    total = info.get("population_total")
    if not _missing(total):
        text += f"; {_fmt(total, 'count')} residents in total"
    return text


def _shared_notes(metadata: Mapping[str, Any]) -> list[str]:
    """Return the notes that hold for every layer of one ``geo311 indicators`` run."""
    info = metadata.get("indicators") or {}
    limits = _limits(metadata)
    notes = [
        f"Period: {_period(metadata)}. As of {info.get('as_of') or 'unknown'}; dates and days "
        f"of the week are in {info.get('timezone') or 'the data time zone'}.",
        f"Requests counted: {_demand_text(metadata)}.",
        f"Rates need at least {limits['min_population']:,} residents; values based on fewer "
        f"than {limits['min_count']} requests are marked unstable.",
    ]
    if info.get("type_adjustment"):
        notes.append(f"Type adjustment: {info['type_adjustment']}.")
    return notes


def _layer_notes(layer: IndicatorLayer, *, title: str) -> list[str]:
    """Vintage, denominator and exclusion notes of one layer, in plain words."""
    meta = layer.metadata
    info = meta.get("indicators") or {}
    notes = [
        f"{title}: boundary vintage {meta.get('vintage') or 'unknown'}; source: "
        f"{meta.get('layer_source') or 'unknown'}.",
        f"{title}: population from {_population_text(meta)}, interpolated from census tracts "
        "by area where the areas are not tracts.",
    ]
    rows = info.get("rows") or {}
    explained = info.get("rows_explained") or {}
    setaside = [
        f"{_fmt(n, 'count')} {explained.get(k, k).split(': ', 1)[-1]}"
        for k, n in rows.items()
        if k not in {"rows", "in_scope", "counted"} and not _missing(n) and n
    ]
    if rows:
        text = (
            f"{title}: of {_fmt(rows.get('rows'), 'count')} requests in the input, "
            f"{_fmt(rows.get('counted'), 'count')} are counted"
        )
        notes.append(f"{text}; set aside: {'; '.join(setaside)}." if setaside else f"{text}.")
    return notes


def _demand_text(metadata: Mapping[str, Any]) -> str:
    info = metadata.get("indicators") or {}
    demand = info.get("demand") or "resident"
    words = {
        "resident": "resident-initiated requests (requests city staff file themselves are "
        "left out)",
        "proactive": "proactive requests filed by city staff only",
        "all": "resident-initiated and staff-filed requests",
    }.get(str(demand), str(demand))
    extra = []
    if not info.get("include_duplicates", False):
        extra.append("duplicates excluded")
    if not info.get("include_transfers", False):
        extra.append("transfers excluded")
    return f"{words}{'; ' + ', '.join(extra) if extra else ''}"


def _layer_title(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _singular(key: str) -> str:
    """Return a layer key as one area in words.

    Examples
    --------
    >>> _singular("council_districts"), _singular("census_tracts"), _singular("wards")
    ('council district', 'census tract', 'ward')
    """
    words = key.replace("_", " ").lower()
    return words[:-1] if words.endswith("s") else words


# --------------------------------------------------------------------------- tables


def _cell(
    text: Any, *, sort: Any = None, numeric: bool = False, href: str | None = None
) -> dict[str, Any]:
    return {
        "text": "" if text is None else str(text),
        "sort": sort,
        "numeric": numeric,
        "href": href,
    }


def _plain_rows(rows: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"id": None, "cells": cells} for cells in rows]


def _header(label: str, *, numeric: bool = False, sort: str = "none") -> dict[str, Any]:
    return {"label": label, "numeric": numeric, "sort": sort}


def _value_with_ci(row: pd.Series, h: _Headline) -> str:
    """Return a value with its 95% interval in brackets, e.g. ``"5.8 (5.6 to 5.9)"``."""
    value = row.get(h.column)
    if _missing(value):
        return _fmt(value, h.kind)
    low, high = row.get(h.ci_low), row.get(h.ci_high)
    if _missing(low) and _missing(high):
        return _fmt(value, h.kind)
    lo = "?" if _missing(low) else _fmt(low, h.kind)
    hi = "open-ended" if _missing(high) else _fmt(high, h.kind)
    return f"{_fmt(value, h.kind)} ({lo} to {hi})"


def _natural(text: Any) -> tuple[tuple[int, int | str], ...]:
    """Return a sort key that orders "District 2" before "District 10" (as the table script does).

    Examples
    --------
    >>> sorted(["District 10", "district 2", "District 1"], key=_natural)
    ['District 1', 'district 2', 'District 10']
    """
    text = "" if _missing(text) else str(text)
    parts = re.split(r"(\d+)", text.casefold())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def _area_table(
    table: pd.DataFrame,
    *,
    table_id: str,
    caption: str,
    limits: Mapping[str, Any],
    columns: Sequence[str],
    name_label: str = "Area",
    links: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return a sortable table of areas: name, each headline with its CI, requests, flags."""
    headers = [_header(name_label, sort="ascending")]
    for column in columns:
        h = HEADLINE_INDICATORS[column]
        headers.append(_header(f"{h.title} (95% CI)", numeric=True))
    headers += [_header("Requests", numeric=True), _header("Notes")]
    order = table.sort_values("area_name", key=lambda names: names.map(_natural), kind="stable")
    rows = []
    for area_id, row in order.iterrows():
        name = row.get("area_name")
        name = str(area_id) if _missing(name) or name == "" else str(name)
        cells = [_cell(name, sort=None, href=(links or {}).get(str(area_id)))]
        for column in columns:
            h = HEADLINE_INDICATORS[column]
            cells.append(
                _cell(_value_with_ci(row, h), sort=_sort_value(row.get(column)), numeric=True)
            )
        notes = _table_notes(row, columns, limits)
        cells.append(
            _cell(
                _fmt(row.get("requests"), "count"),
                sort=_sort_value(row.get("requests")),
                numeric=True,
            )
        )
        cells.append(_cell("; ".join(notes)))
        rows.append({"id": str(area_id), "cells": cells})
    return {"id": table_id, "caption": caption, "headers": headers, "rows": rows}


def _table_notes(row: pd.Series, columns: Sequence[str], limits: Mapping[str, Any]) -> list[str]:
    """Return the flags of one table row, short: unstable values are named together."""
    unstable: list[str] = []
    other: list[str] = []
    for column in columns:
        h = HEADLINE_INDICATORS[column]
        for flag in _flags(row, h, limits):
            if flag.startswith("unstable"):
                unstable.append(_short(h))
            else:
                other.append(f"{_short(h)}: {flag.split(':')[0]}")
    if unstable:
        other.insert(0, f"unstable (fewer than {limits['min_count']}): {', '.join(unstable)}")
    return other


def _short(h: _Headline) -> str:
    return {
        "rate_per_1k": "rate",
        "ttc_median_days": "median days",
        "on_time_share": "on time",
        "ttc_type_adjusted_ratio": "type-adjusted",
    }[h.column]


# --------------------------------------------------------------------------- charts


def _chart(
    chart_id: str,
    caption: str,
    svg: str,
    table: str,
) -> dict[str, str]:
    """One figure: the SVG and its text alternative, both escaped by :mod:`geo311.site.charts`.

    Backticks are additionally written as character references (as in the rest of the
    page): inert in HTML either way, but never left raw for a script to pick up.
    """
    return {
        "id": chart_id,
        "caption": caption,
        "svg": svg.replace("`", "&#96;"),
        "table": table.replace("`", "&#96;"),
    }


def _pct(value: float) -> str:
    return _fmt(value, "share")


def _services_chart(
    services: pd.DataFrame, area_id: str, *, area_label: str
) -> dict[str, str] | None:
    """Bar chart + table of an area's top service types, with the city's share of each."""
    mine = services[services["area_id"] == area_id].sort_values("rank", kind="stable")
    if mine.empty:
        return None
    city = services[services["area_id"] == _CITY].set_index("service_type")["share"]
    labels = [str(x) for x in mine["service_type"].fillna("(unknown)")]
    values = [float(x) for x in mine["share"]]
    compare = [float(city.get(label, np.nan)) for label in labels]
    caption = f"Top {len(labels)} service types in {area_label}: share of its requests"
    return _share_chart(
        "services",
        labels,
        values,
        compare,
        list(mine["requests"]),
        caption=caption,
        area_label=area_label,
        label_header="Service type",
        not_in_city="not in the city's top list",
    )


def _share_chart(
    name: str,
    labels: list[str],
    values: list[float],
    compare: list[float],
    requests: list[Any],
    *,
    caption: str,
    area_label: str,
    label_header: str,
    not_in_city: str = "not available",
) -> dict[str, str]:
    """Bar chart of an area's shares with the city's beside them, and its data table."""
    svg = charts.bar_chart(
        labels,
        values,
        title=caption,
        unit="share of requests",
        compare=compare,
        compare_label="City",
        series_label=area_label,
        value_format=_pct,
        chart_id=f"svg-{name}",
        show_title=False,
    )
    table = charts.chart_table(
        labels,
        {
            "Requests": [_fmt(x, "count") for x in requests],
            f"Share in {area_label}": [_pct(v) for v in values],
            "Share in the city": [not_in_city if _missing(v) else _pct(v) for v in compare],
        },
        caption=caption,
        label_header=label_header,
    )
    return _chart(f"chart-{name}", caption, svg, table)


def _pattern(patterns: pd.DataFrame, area_id: str, pattern: str) -> pd.DataFrame:
    rows = patterns[(patterns["area_id"] == area_id) & (patterns["pattern"] == pattern)]
    return rows.sort_values("bucket_order", kind="stable")


def _weekday_chart(
    patterns: pd.DataFrame, area_id: str, *, area_label: str
) -> dict[str, str] | None:
    mine = _pattern(patterns, area_id, "day_of_week")
    city = _pattern(patterns, _CITY, "day_of_week").set_index("bucket")["share"]
    if mine.empty:
        return None
    labels = [str(x) for x in mine["bucket"]]
    values = [float(x) for x in mine["share"].fillna(0.0)]
    compare = [float(city.get(label, np.nan)) for label in labels]
    caption = f"Requests by day of the week: share in {area_label} and in the city"
    return _share_chart(
        "weekday",
        labels,
        values,
        compare,
        list(mine["requests"]),
        caption=caption,
        area_label=area_label,
        label_header="Day of the week",
    )


def _month_label(bucket: str) -> str:
    """Return ``"Jan 2025"`` for a month bucket like ``"2025-01-01"`` (other text unchanged).

    Examples
    --------
    >>> _month_label("2025-01-01"), _month_label("2025-03"), _month_label("week 3")
    ('Jan 2025', 'Mar 2025', 'week 3')
    """
    match = re.fullmatch(r"(\d{4})-(\d{2})(?:-\d{2})?(?:[T ].*)?", bucket.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        return bucket
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{months[int(match.group(2)) - 1]} {match.group(1)}"


def _month_chart(
    patterns: pd.DataFrame, area_id: str, *, area_label: str
) -> dict[str, str] | None:
    mine = _pattern(patterns, area_id, "month")
    city = _pattern(patterns, _CITY, "month").set_index("bucket")
    if len(mine) < 2:
        return None
    buckets = [str(x) for x in city.index] if len(city) else [str(x) for x in mine["bucket"]]
    by_month = mine.set_index("bucket")
    area_share = [float(by_month["share"].get(b, 0.0)) for b in buckets]
    city_share = [float(city["share"].get(b, np.nan)) for b in buckets]
    labels = [_month_label(b) for b in buckets]
    caption = f"Requests by month: share of each area's requests, {area_label} and the city"
    svg = charts.line_chart(
        labels,
        {area_label: area_share, "City": city_share},
        title=caption,
        unit="share of requests",
        value_format=_pct,
        chart_id="svg-month",
        show_title=False,
    )
    table = charts.chart_table(
        labels,
        {
            f"Requests in {area_label}": [
                _fmt(by_month["requests"].get(b, 0), "count") for b in buckets
            ],
            f"Share in {area_label}": [_pct(v) for v in area_share],
            "Share in the city": [_pct(v) for v in city_share],
        },
        caption=caption,
        label_header="Month",
    )
    return _chart("chart-month", caption, svg, table)


# --------------------------------------------------------------------------- maps


def _city_bins(table: pd.DataFrame, column: str) -> list[float]:
    """Class bounds of the citywide map of ``column`` (so district maps use the same colours)."""
    if column not in table:
        return []
    spec = maps.indicator_spec(column, list(table.columns))
    values = pd.to_numeric(table[column], errors="coerce")
    if spec.flag and spec.flag in table:
        values = values.where(table[spec.flag].astype("string") != "insufficient")
    return list(maps.classify(values, scheme="quantiles", k=5).bins)


def _map_frame(
    display: gpd.GeoDataFrame, table: pd.DataFrame, columns: Sequence[str]
) -> gpd.GeoDataFrame:
    """Return the display outlines with only the columns a map shows (keeps pages small)."""
    wanted: list[str | None] = ["area_name"]
    for column in columns:
        h = HEADLINE_INDICATORS[column]
        spec = maps.indicator_spec(column, list(table.columns))
        wanted += [h.column, h.ci_low, h.ci_high, h.count, spec.count, spec.flag, *(spec.ci or ())]
    wanted += ["population", "requests"]
    keep = [c for c in dict.fromkeys(wanted) if c and c in table.columns]
    # a headline column the tables lack is drawn as insufficient data, not refused
    data = table[keep].reindex(columns=[*keep, *(c for c in columns if c not in keep)])
    frame = display[["area_id", "geometry"]].merge(
        data, left_on="area_id", right_index=True, how="left"
    )
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=display.crs)


def _choropleth(
    frame: gpd.GeoDataFrame,
    column: str,
    *,
    population_source: str,
    outlines: gpd.GeoDataFrame | None,
    outlines_title: str,
    tiles: bool,
    limits: Mapping[str, Any],
    bins: Sequence[float] | None = None,
    scheme_label: str | None = None,
    m: Any = None,
    show: bool = True,
) -> Any:
    """Draw a headline indicator with the site's title, unit and unstable threshold."""
    h = HEADLINE_INDICATORS[column]
    return maps.choropleth(
        frame,
        column,
        m=m,
        show=show,
        scheme="user_defined" if bins else "quantiles",
        k=5,
        bins=list(bins) if bins else None,
        title=h.title,
        unit=h.unit,
        population_source=population_source or None,
        outlines=outlines,
        outline_name="area_name",
        outlines_title=outlines_title,
        tiles=tiles,
        min_count=limits["min_count"],
        scheme_label=scheme_label,
    )


# --------------------------------------------------------------------------- the site


@dataclass
class _Plan:
    """Every page and image the site will have, decided before anything is written."""

    maps: list[tuple[str, str, Path, Path | None]]  # layer, column, page, png
    combined: list[tuple[str, list[str], Path]]  # layer, its columns as switchable layers, page
    skipped: list[str]
    districts: list[tuple[str, str, Path]]  # district id, name, page
    index: Path
    manifest: Path

    def outputs(self) -> list[Path]:
        """Every file the site writes (besides the vendored assets)."""
        return [
            self.index,
            self.manifest,
            *(page for _, _, page, _ in self.maps),
            *(page for *_, page in self.combined),
            *(png for *_, png in self.maps if png is not None),
            *(page for *_, page in self.districts),
        ]


@dataclass(frozen=True)
class _Render:
    """What every page is rendered with."""

    env: Any
    common: Mapping[str, Any]
    tiles: bool
    self_contained: bool

    def parts(self, m: Any) -> Any:
        return maps.map_parts(
            m, assets="inline" if self.self_contained else "external", asset_prefix="assets/"
        )

    def write(self, template: str, page: Path, **context: Any) -> int:
        html = self.env.get_template(template).render(**{**self.common, **context})
        return _write_page(page, html)


_EMPTY_MEMBERSHIP = pd.DataFrame(
    {
        "district_id": pd.Series(dtype="string"),
        "share_in_district": pd.Series(dtype=float),
        "share_outside": pd.Series(dtype=float),
        "split": pd.Series(dtype=bool),
    }
)


def _available(layer: IndicatorLayer, column: str) -> bool:
    return column in layer.indicators and bool(layer.indicators[column].notna().any())


def _plan(
    layers: Mapping[str, IndicatorLayer],
    area_layers: Sequence[str],
    district: IndicatorLayer | None,
    out_dir: Path,
    *,
    png: bool,
) -> _Plan:
    pages: list[tuple[str, str, Path, Path | None]] = []
    combined: list[tuple[str, list[str], Path]] = []
    skipped = []
    for key in area_layers:
        safe = key if re.fullmatch(r"[A-Za-z0-9_]+", key) else slugify(key)
        shown = [c for c in HEADLINE_INDICATORS if _available(layers[key], c)]
        if len(shown) > 1:
            combined.append((key, shown, out_dir / f"map-{safe}.html"))
        for column, h in HEADLINE_INDICATORS.items():
            if column not in shown:
                skipped.append(f"{h.title} by {_layer_title(key).lower()}: no area has a value.")
                continue
            stem = f"{safe}-{h.slug}"
            pages.append(
                (
                    key,
                    column,
                    out_dir / f"map-{stem}.html",
                    out_dir / "png" / f"{stem}.png" if png else None,
                )
            )
    districts = []
    if district is not None:
        taken: set[str] = set()
        order = district.indicators.index.tolist()
        for area_id in order:
            slug = slugify(str(area_id), taken=taken)
            name = district.indicators.at[area_id, "area_name"]
            name = str(area_id) if _missing(name) else str(name)
            districts.append((str(area_id), name, out_dir / f"district-{slug}.html"))
    return _Plan(
        pages, combined, skipped, districts, out_dir / "index.html", out_dir / "site.json"
    )


def _choose_neighborhoods(
    keys: Sequence[str], preferred: str | None, district_layer: str | None
) -> str | None:
    if preferred and preferred in keys and preferred != district_layer:
        return preferred
    for key in _TRACT_KEYS:
        if key in keys and key != district_layer:
            return key
    others = [k for k in keys if k != district_layer]
    return others[0] if others else None


def _write_page(path: Path, html: str) -> int:
    data = html.encode("utf-8")
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return len(data)


def _common(site_title: str, synthetic: bool, as_of: str) -> dict[str, Any]:
    from geo311 import __version__  # noqa: PLC0415

    return {
        "site_title": site_title,
        "synthetic": synthetic,
        "as_of": as_of,
        "version": __version__,
        "map_parts": None,
        "has_sortable": False,
        "current": "",
    }


def build_site(
    indicators_dir: str | Path,
    out_dir: str | Path,
    *,
    district_layer: str | None = "council_districts",
    area_layers: Sequence[str] | None = None,
    neighborhood_layer: str | None = "neighborhoods",
    self_contained: bool = True,
    tiles: bool = True,
    png: bool = True,
    ledger: Ledger | str | Path | None = None,
    title: str | None = None,
    overwrite: bool = False,
    simplify_tolerance_m: float = 5.0,
) -> SiteResult:
    """Write the static site of an indicators folder: index, maps, district pages, PNGs.

    Parameters
    ----------
    indicators_dir : str or pathlib.Path
        Folder written by ``geo311 indicators``.
    out_dir : str or pathlib.Path
        Site folder; created when missing.
    district_layer : str or None, default "council_districts"
        Layer with one page per area (None: no district pages).
    area_layers : sequence of str, optional
        Layers to map; default every layer in the folder.
    neighborhood_layer : str or None, default "neighborhoods"
        Areas shown inside the district pages; falls back to census tracts,
        then to the first layer that is not the district layer.
    self_contained : bool, default True
        Inline Leaflet in every page; otherwise link ``assets/`` (written too).
    tiles : bool, default True
        Draw a background tile layer (the only thing fetched from the internet).
    png : bool, default True
        Write ``png/<layer>-<indicator>.png`` for every map page.
    ledger : Ledger, str or pathlib.Path, optional
        The row ledger (or a ``requests.ledger.json``) whose per-stage counts
        the index reports.
    title : str, optional
        Site title; default from the layers' metadata.
    overwrite : bool, default False
        Replace existing pages.
    simplify_tolerance_m : float, default 5.0
        Display simplification tolerance (metres, topology kept).

    Returns
    -------
    SiteResult

    Raises
    ------
    InputFileError
        A table of a layer is missing (naming it and the command that writes it).
    OutputExistsError
        A page exists and ``overwrite`` is False.
    """
    env = _environment()
    indicators_dir, out_dir = Path(indicators_dir), Path(out_dir)
    layers, wanted, hood_key = _load(
        indicators_dir,
        area_layers=area_layers,
        district_layer=district_layer,
        neighborhood_layer=neighborhood_layer,
    )
    district = layers[district_layer] if district_layer else None
    plan = _plan(layers, wanted, district, out_dir, png=png)
    check_overwrite(plan.outputs(), overwrite=overwrite)
    ledger_obj = _read_ledger(ledger)
    reference = district or layers[wanted[0] if wanted else next(iter(layers))]
    info = reference.metadata.get("indicators") or {}
    site_title = title or "311 service requests by area"
    synthetic = any(_synthetic(layer.metadata) for layer in layers.values())
    common = _common(site_title, synthetic, str(info.get("as_of") or "unknown"))
    render = _Render(env, common, tiles=tiles, self_contained=self_contained)

    display: dict[str, gpd.GeoDataFrame] = {}
    displacement: dict[str, float] = {}
    for key, layer in layers.items():
        display[key], displacement[key] = _simplified(
            layer.areas, tolerance_m=simplify_tolerance_m
        )

    sizes: dict[Path, int] = {}
    pngs: list[Path] = []
    outlines = display[district_layer] if district_layer else None
    for key, column, page, png_path in plan.maps:
        lines = outlines if key != district_layer else None
        title_lines = _layer_title(district_layer or "boundaries")
        sizes[page] = _map_page(
            render, layers[key], [column], page=page, display=display[key], outlines=lines,
            outlines_title=title_lines, png=png_path,
        )  # fmt: skip
        if png_path is not None:
            pngs.append(_png(layers[key], column, png_path, display=display[key], outlines=lines))
    for key, columns, page in plan.combined:
        sizes[page] = _map_page(
            render, layers[key], columns, page=page, display=display[key],
            outlines=outlines if key != district_layer else None,
            outlines_title=_layer_title(district_layer or "boundaries"), png=None,
        )  # fmt: skip

    membership = _EMPTY_MEMBERSHIP
    hoods = layers[hood_key] if hood_key is not None and district is not None else None
    if district is not None and hoods is not None:
        membership = district_membership(hoods.areas, district.areas)
    for area_id, name, page in plan.districts:
        assert district is not None  # plan.districts is empty without districts
        sizes[page] = _district_page(
            render, district, hoods, area_id=area_id, name=name, page=page,
            membership=membership, display=display,
        )  # fmt: skip

    assets: list[Path] = []
    if not self_contained and (plan.maps or plan.combined or plan.districts):
        assets = list(maps.write_assets(out_dir))
    sizes[plan.index] = _index_page(
        render, layers, plan, reference=reference, district=district, ledger=ledger_obj,
        out_dir=out_dir,
    )  # fmt: skip
    pages = [
        plan.index,
        *(p for _, _, p, _ in plan.maps),
        *(p for *_, p in plan.combined),
        *(p for *_, p in plan.districts),
    ]
    manifest = {
        "title": site_title,
        "as_of": common["as_of"],
        "synthetic": synthetic,
        "self_contained": self_contained,
        "tiles": tiles,
        "simplify_tolerance_m": simplify_tolerance_m,
        "pages": [{"path": p.relative_to(out_dir).as_posix(), "bytes": sizes[p]} for p in pages],
        "pngs": [
            {"path": p.relative_to(out_dir).as_posix(), "bytes": p.stat().st_size} for p in pngs
        ],
        "assets": [p.relative_to(out_dir).as_posix() for p in assets],
        "max_displacement_m": {k: round(v, 3) for k, v in displacement.items()},
        "counts": {
            "layers": len(wanted),
            "map_pages": len(plan.maps),
            "combined_map_pages": len(plan.combined),
            "district_pages": len(plan.districts),
            "pngs": len(pngs),
            "skipped_maps": len(plan.skipped),
            "split_areas": int(membership["split"].sum()),
        },
        "skipped": plan.skipped,
    }
    with atomic_write(plan.manifest) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")
    log.info(
        "wrote a site of %d pages (%d maps, %d districts) and %d PNGs to %s",
        len(pages), len(plan.maps), len(plan.districts), len(pngs), out_dir,
    )  # fmt: skip
    return SiteResult(out_dir, pages, sizes, displacement, pngs)


def _load(
    indicators_dir: Path,
    *,
    area_layers: Sequence[str] | None,
    district_layer: str | None,
    neighborhood_layer: str | None,
) -> tuple[dict[str, IndicatorLayer], list[str], str | None]:
    """Read the layers the site needs; return them, the layers to map and the small-area layer."""
    keys = indicator_layers(indicators_dir)
    wanted = list(area_layers) if area_layers is not None else list(keys)
    asked = [*wanted, *([district_layer] if district_layer else [])]
    unknown = [k for k in asked if k not in keys]
    if unknown:
        missing = ", ".join(f"{k}.json" for k in unknown)
        msg = (
            f"missing {missing} in {indicators_dir} (layers there: {', '.join(keys)}); write "
            f"them with `{_WRITER.format(key=unknown[0], folder=indicators_dir)}`"
        )
        raise InputFileError(msg)
    hood_key = _choose_neighborhoods(keys, neighborhood_layer, district_layer)
    needed = list(dict.fromkeys([*asked, *([hood_key] if hood_key and district_layer else [])]))
    layers = {key: read_indicator_layer(indicators_dir, key) for key in needed}
    return layers, wanted, hood_key


def _read_ledger(ledger: Ledger | str | Path | None) -> Ledger | None:
    if ledger is None or isinstance(ledger, Ledger):
        return ledger
    path = Path(ledger)
    if not path.is_file():
        msg = f"ledger {path} not found; `geo311 ingest` and `geo311 join` write <out>.ledger.json"
        raise InputFileError(msg)
    return Ledger.read_json(path)


def _simplified(areas: gpd.GeoDataFrame, *, tolerance_m: float) -> tuple[gpd.GeoDataFrame, float]:
    from geo311.site.simplify import simplify_for_display  # noqa: PLC0415

    shown = simplify_for_display(
        areas[["area_id", "area_name", "geometry"]], tolerance_m=tolerance_m
    )
    return shown.gdf, float(shown.max_displacement_m)


def _population_source(layer: IndicatorLayer) -> str:
    """Return the population source and year for legends, e.g. ``"ACS 5-year (2020)"``.

    The year is that of the population column when the metadata gives one
    (a table's own year may be a label such as ``"synthetic"``).

    Examples
    --------
    >>> meta = {"denominators": {"source": "demo (synthetic)", "year": "synthetic",
    ...         "variables": {"population": {"year": "2020"}}}}
    >>> _population_source(IndicatorLayer("x", None, None, None, None, None, meta))
    'demo (synthetic) (2020)'
    """
    denominators = layer.metadata.get("denominators") or {}
    source = denominators.get("source") or (layer.metadata.get("indicators") or {}).get(
        "population_source"
    )
    if not source:
        return ""
    variables = denominators.get("variables") or {}
    year = (variables.get("population") or {}).get("year") or denominators.get("year")
    return f"{source} ({year})" if year and str(year) not in str(source) else str(source)


def _map_page(
    render: _Render,
    layer: IndicatorLayer,
    columns: Sequence[str],
    *,
    page: Path,
    display: gpd.GeoDataFrame,
    outlines: gpd.GeoDataFrame | None,
    outlines_title: str,
    png: Path | None,
) -> int:
    """Write a choropleth page: one indicator, or several as switchable layers (first shown)."""
    heads = [HEADLINE_INDICATORS[c] for c in columns]
    h = heads[0]
    limits = _limits(layer.metadata)
    areas_title = _layer_title(layer.key).lower()
    frame = _map_frame(display, layer.indicators, list(columns))
    m = None
    for i, column in enumerate(columns):
        m = _choropleth(
            frame,
            column,
            population_source=_population_source(layer),
            outlines=outlines if i == 0 else None,
            outlines_title=outlines_title,
            tiles=render.tiles,
            limits=limits,
            m=m,
            show=i == 0,
        )
    values = layer.indicators[columns[0]]
    if columns[0] == "rate_per_1k" and "rate_flag" in layer.indicators:
        values = values.where(layer.indicators["rate_flag"].astype("string") != "insufficient")
    shown = int(values.notna().sum())
    if len(columns) > 1:
        title = f"Headline indicators by {areas_title}"
        lede = (
            f"{len(columns)} indicators for each of the {len(values):,} {areas_title}, one "
            f"layer each: {', '.join(x.title.lower() for x in heads)}."
        )
        how = [
            f"The map opens on {h.title.lower()}; choose another indicator in the layer "
            "control (top right). Each has its own legend, shown while its layer is on.",
            "Colours are 5 quantile classes of each indicator: each holds about a fifth of "
            "the areas with a value. Hover or tap an area for its value, 95% interval and "
            "counts; the table below has every indicator.",
        ]
    else:
        title = f"{h.title} by {areas_title}"
        lede = (
            f"{h.title} ({h.unit}) in each of the {len(values):,} {areas_title}; city: "
            f"{_value_with_ci(layer.city, h)}."
        )
        how = [sentence.format(**limits) for sentence in h.read]
        how.append(
            f"Colours are 5 quantile classes: each holds about a fifth of the {shown:,} areas "
            f"with a value ({h.unit}); the legend gives the class limits. Hover or tap an area "
            "for its value, 95% interval and counts."
        )
        missing = len(values) - shown
        if missing:
            how.append(f"{missing:,} area(s) have no value and are drawn as insufficient data.")
    if outlines is not None:
        how.append(
            f"Thick labelled lines are the {outlines_title.lower()} boundaries (switch them off "
            "in the layer control)."
        )
    notes = _shared_notes(layer.metadata) + _layer_notes(layer, title=_layer_title(layer.key))
    context = {
        "page_title": title,
        "current": "map",
        "lede": lede,
        "map_parts": render.parts(m),
        "has_sortable": True,
        "png": png.relative_to(page.parent).as_posix() if png is not None else None,
        "how_to_read": how,
        "table": _area_table(
            layer.indicators,
            table_id="areas-table",
            caption=f"{title} in every area (click a column header to sort)",
            limits=limits,
            columns=list(columns),
        ),
        "notes": notes,
    }
    return render.write("map.html", page, **context)


def _png(
    layer: IndicatorLayer,
    column: str,
    path: Path,
    *,
    display: gpd.GeoDataFrame,
    outlines: gpd.GeoDataFrame | None,
) -> Path:
    h = HEADLINE_INDICATORS[column]
    frame = _map_frame(display, layer.indicators, [column])
    out = maps.static_map(
        frame,
        column,
        path,
        scheme="quantiles",
        k=5,
        title=f"{h.title} by {_layer_title(layer.key).lower()}",
        unit=h.unit,
        population_source=_population_source(layer),
        outlines=outlines,
        overwrite=True,  # existence was checked with every other output
        min_count=_limits(layer.metadata)["min_count"],
    )
    return Path(out)


def _district_page(
    render: _Render,
    district: IndicatorLayer,
    hoods: IndicatorLayer | None,
    *,
    area_id: str,
    name: str,
    page: Path,
    membership: pd.DataFrame,
    display: Mapping[str, gpd.GeoDataFrame],
) -> int:
    limits = _limits(district.metadata)
    row = district.indicators.loc[[area_id]].iloc[0]
    cards = [
        _card(h, row, district.city, area_label=name, limits=limits)
        for h in HEADLINE_INDICATORS.values()
    ]
    outline = display[district.key]
    outline = outline[outline["area_id"] == area_id]
    notes = _shared_notes(district.metadata) + _layer_notes(
        district, title=_layer_title(district.key)
    )
    table = None
    hood_frame: gpd.GeoDataFrame | None = None
    rate = HEADLINE_INDICATORS["rate_per_1k"]
    if hoods is not None:
        members = membership.index[membership["district_id"] == area_id]
        inside = hoods.indicators.loc[hoods.indicators.index.isin(members)]
        hood_display = display[hoods.key]
        hood_frame = _map_frame(
            hood_display[hood_display["area_id"].isin(members)], hoods.indicators, [rate.column]
        )
        if len(inside):
            table = _area_table(
                inside,
                table_id="areas-table",
                caption=f"{_layer_title(hoods.key)} of {name} (click a column header to sort)",
                limits=_limits(hoods.metadata),
                columns=list(HEADLINE_INDICATORS),
                name_label=_singular(hoods.key).capitalize(),
            )
        notes += _membership_notes(hoods, district, membership, area_id, name)
        notes += _layer_notes(hoods, title=_layer_title(hoods.key))
    if hoods is not None and hood_frame is not None and len(hood_frame):
        frame = hood_frame
        map_title = f"{rate.title} in the {_layer_title(hoods.key).lower()} of {name}"
        # the citywide classes of the neighbourhood map, so colours compare across districts
        bins = _city_bins(hoods.indicators, rate.column)
        m = _choropleth(
            frame,
            rate.column,
            population_source=_population_source(hoods),
            outlines=outline,
            outlines_title=name,
            tiles=render.tiles,
            limits=_limits(hoods.metadata),
            bins=bins if len(bins) > 1 else None,
            scheme_label=(
                f"quantiles of all {_layer_title(hoods.key).lower()} in the city (same colours "
                "as the city map)"
                if len(bins) > 1
                else None
            ),
        )
    else:
        frame = _map_frame(outline, district.indicators, [rate.column])
        map_title = f"{rate.title} in {name}"
        m = _choropleth(
            frame,
            rate.column,
            population_source=_population_source(district),
            outlines=None,
            outlines_title=name,
            tiles=render.tiles,
            limits=limits,
        )
    minx, miny, maxx, maxy = (
        float(v) for v in pd.concat([frame.geometry, outline.geometry]).total_bounds
    )
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    context = {
        "page_title": name,
        "current": "district",
        "district_name": name,
        "map_title": map_title,
        "lede": f"311 requests in {name} compared with the whole city, with the "
        f"{_layer_title(hoods.key).lower() if hoods is not None else 'areas'} it contains.",
        "map_parts": render.parts(m),
        "has_sortable": table is not None,
        "cards": cards,
        "services_chart": _services_chart(district.services, area_id, area_label=name),
        "weekday_chart": _weekday_chart(district.patterns, area_id, area_label=name),
        "month_chart": _month_chart(district.patterns, area_id, area_label=name),
        "areas_heading": f"{_layer_title(hoods.key)} in {name}" if hoods is not None else "Areas",
        "table": table,
        "notes": notes,
    }
    return render.write("district.html", page, **context)


def _membership_notes(
    hoods: IndicatorLayer,
    district: IndicatorLayer,
    membership: pd.DataFrame,
    area_id: str,
    name: str,
) -> list[str]:
    hood_title = _layer_title(hoods.key).lower()
    names = hoods.indicators["area_name"]
    members = membership[membership["district_id"] == area_id]
    notes = [
        f"Each of the {hood_title} belongs to the {_singular(district.key)} "
        f"that holds most of its area ({hoods.metadata.get('vintage') or '?'} {hood_title} vs "
        f"{district.metadata.get('vintage') or '?'} districts, measured in a projected CRS); "
        f"{len(members):,} are assigned to {name}."
    ]
    split = members[members["split"]]
    for hood_id, row in split.iterrows():
        label = names.get(hood_id, hood_id)
        notes.append(
            f"{label} is split: {100 * row['share_outside']:.1f}% of its area lies outside "
            f"{name}; its figures cover the whole area."
        )
    return notes


def _funnel_table(layers: Mapping[str, IndicatorLayer]) -> dict[str, Any]:
    keys = list(layers)
    explained: dict[str, str] = {}
    for layer in layers.values():
        explained.update((layer.metadata.get("indicators") or {}).get("rows_explained") or {})
    steps: list[str] = []
    for layer in layers.values():
        for step in (layer.metadata.get("indicators") or {}).get("rows") or {}:
            if step not in steps:
                steps.append(step)
    headers = [_header("Step"), _header("Meaning")]
    headers += [_header(_layer_title(k), numeric=True) for k in keys]
    rows = []
    for step in steps:
        counts = [
            ((layers[k].metadata.get("indicators") or {}).get("rows") or {}).get(step)
            for k in keys
        ]
        rows.append(
            [_cell(step.replace("_", " ")), _cell(explained.get(step, ""))]
            + [_cell(_fmt(c, "count"), numeric=True) for c in counts]
        )
    return {
        "id": "funnel-table",
        "caption": "Requests counted and set aside, per layer",
        "headers": headers,
        "rows": _plain_rows(rows),
    }


def _ledger_table(ledger: Any) -> dict[str, Any]:
    """Per-stage counts of the ledger (never its examples or notes: they may quote rows)."""
    rows = []
    for stage in ledger.stages:
        dropped = "; ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in stage.dropped.items())
        flagged = "; ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in stage.flagged.items())
        rows.append(
            [
                _cell(stage.stage),
                _cell(_fmt(stage.rows_in, "count"), numeric=True),
                _cell(_fmt(stage.rows_out, "count"), numeric=True),
                _cell(dropped or "none"),
                _cell(flagged or "none"),
            ]
        )
    return {
        "id": "ledger-table",
        "caption": "Rows per stage of ingest and join",
        "rows": _plain_rows(rows),
        "headers": [
            _header("Stage"),
            _header("Rows in", numeric=True),
            _header("Rows out", numeric=True),
            _header("Dropped (reason: rows)"),
            _header("Flagged, kept (reason: rows)"),
        ],
    }


def _index_page(
    render: _Render,
    layers: Mapping[str, IndicatorLayer],
    plan: _Plan,
    *,
    reference: IndicatorLayer,
    district: IndicatorLayer | None,
    ledger: Any,
    out_dir: Path,
) -> int:
    meta = reference.metadata
    info = meta.get("indicators") or {}
    limits = _limits(meta)
    coverage = {
        "period": _period(meta),
        "as_of": str(info.get("as_of") or "unknown"),
        "timezone": str(info.get("timezone") or "unknown"),
        "population": _population_text(meta),
        "demand": _demand_text(meta),
    }
    layers_table = {
        "id": "layers-table",
        "caption": "Boundary layers",
        "headers": [
            _header("Layer"),
            _header("Vintage"),
            _header("Source"),
            _header("Areas", numeric=True),
            _header("Requests counted", numeric=True),
        ],
        "rows": _plain_rows(
            [
                _cell(_layer_title(key)),
                _cell(layer.metadata.get("vintage") or "unknown"),
                _cell(layer.metadata.get("layer_source") or "unknown"),
                _cell(_fmt(len(layer.indicators), "count"), numeric=True),
                _cell(_fmt(layer.city.get("requests"), "count"), numeric=True),
            ]
            for key, layer in layers.items()
        ),
    }
    city_cards = [
        _card(h, None, reference.city, area_label="City", limits=limits)
        for h in HEADLINE_INDICATORS.values()
    ]
    map_rows = []
    for key, column, page, png in plan.maps:
        h = HEADLINE_INDICATORS[column]
        map_rows.append(
            [
                _cell(h.title, href=page.relative_to(out_dir).as_posix()),
                _cell(_layer_title(key)),
                _cell(h.unit),
                _cell(
                    "PNG image" if png is not None else "not written",
                    href=png.relative_to(out_dir).as_posix() if png is not None else None,
                ),
            ]
        )
    for key, columns, page in plan.combined:
        map_rows.append(
            [
                _cell(
                    f"All {len(columns)} headline indicators (switchable layers)",
                    href=page.relative_to(out_dir).as_posix(),
                ),
                _cell(_layer_title(key)),
                _cell("as each indicator"),
                _cell("see the single-indicator pages"),
            ]
        )
    maps_table = {
        "id": "maps-table",
        "caption": "Map pages",
        "headers": [_header("Map"), _header("Areas"), _header("Unit"), _header("Static image")],
        "rows": _plain_rows(map_rows),
    }
    districts_table = None
    if district is not None and plan.districts:
        districts_table = _area_table(
            district.indicators,
            table_id="districts-table",
            caption=f"{_layer_title(district.key)} (click a column header to sort)",
            limits=_limits(district.metadata),
            columns=list(HEADLINE_INDICATORS),
            name_label=_singular(district.key).capitalize(),
            links={i: page.relative_to(out_dir).as_posix() for i, _, page in plan.districts},
        )
    notes = _shared_notes(meta)
    for key, layer in layers.items():
        notes += _layer_notes(layer, title=_layer_title(key))
    context = {
        "page_title": "Overview",
        "current": "index",
        "has_sortable": districts_table is not None,
        "coverage": coverage,
        "layers_table": layers_table,
        "city_cards": city_cards,
        "maps_table": maps_table,
        "skipped": plan.skipped,
        "districts_table": districts_table,
        "districts_title": _layer_title(district.key) if district is not None else "",
        "funnel_table": _funnel_table(layers),
        "ledger_table": _ledger_table(ledger) if ledger is not None else None,
        "notes": notes,
    }
    return render.write("index.html", plan.index, **context)
