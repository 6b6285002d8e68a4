"""Per-area and citywide indicator tables: the modules of this package composed.

:func:`area_indicators` selects the requests once (:mod:`.scope`), then
tabulates demand and rates (:mod:`.rates`), time to close
(:mod:`.time_to_close`) and due dates (:mod:`.compliance`) over the same
counted requests, one row per area; :func:`city_indicators` does the same
for the layer's areas taken together.  Every column is defined in
``METRICS.md`` (items 1-8) and described in :data:`geo311.catalogue.CATALOGUE`.

Which requests count, and which durations are valid, is decided once per call
by :func:`geo311.indicators.scope._select` (see :mod:`geo311.indicators.scope`).
Closed requests with an invalid duration are excluded from time to close and
the due-date figures and counted (``ttc_excluded_*``) -- never clipped.

All functions are pure: inputs are never modified.

Examples
--------
>>> import pandas as pd
>>> t0 = pd.Timestamp("2025-01-06 09:00", tz="UTC")
>>> day = pd.Timedelta(days=1)
>>> requests = pd.DataFrame({
...     "requested_datetime": [t0, t0, t0 + day],
...     "closed_datetime": [t0 + 2 * day, pd.NaT, t0 + 3 * day],
...     "status": ["closed", "open", "closed"],
...     "is_duplicate": False, "is_transfer": False, "is_proactive": False,
...     "wards_id": ["A", "A", "B"],
... })
>>> table = area_indicators(requests, key="wards", as_of=t0 + 10 * day, min_count=1,
...                         population=pd.Series({"A": 1000.0, "B": 500.0}))
>>> table["requests"].to_dict(), table["rate_per_1k"].to_dict()
({'A': 2, 'B': 1}, {'A': 2.0, 'B': 2.0})
>>> table["ttc_median_days"].to_dict()  # A: S = 1/2 once the first closes at 2 days
{'A': 2.0, 'B': 2.0}
>>> table["ttc_median_days_closed_only"].to_dict()
{'A': 2.0, 'B': 2.0}
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from geo311._errors import OptionError
from geo311.catalogue import CATEGORY_COLUMNS, HORIZONS_DAYS, INTEGER_COLUMNS, TABLE_COLUMNS
from geo311.indicators.compliance import _due_dates
from geo311.indicators.rates import _counts, _population, _rates
from geo311.indicators.scope import (
    CITY_ID,
    ROW_COUNTS,
    AsOf,
    Demand,
    FloatArray,
    TimeLike,
    _check_columns,
    _Options,
    _options,
    _Scope,
    _select,
)
from geo311.indicators.sources import _iso, _log_warnings
from geo311.indicators.table_areas import _Areas, _resolve_areas
from geo311.indicators.time_to_close import _time_to_close

__all__ = ["area_indicators", "city_indicators"]

log = logging.getLogger(__name__)


def _metadata(
    scope: _Scope,
    opts: _Options,
    areas: _Areas,
    *,
    population_source: str,
    population_info: Mapping[str, Any],
    population_total: float,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """JSON-ready description of the table: what, when, denominators, exclusions."""
    vintages = list(scope.vintages)
    if areas.vintage and areas.vintage not in vintages:
        vintages.append(areas.vintage)
    return {
        "layer": opts.key,
        "vintages": vintages,
        "area_crs": areas.crs,
        "period": {"start": _iso(scope.period[0]), "end": _iso(scope.period[1])},
        "as_of": scope.as_of.isoformat(),
        "as_of_source": scope.as_of_source,
        "sources": scope.times.metadata(),
        "warnings": list(scope.times.warnings),
        "timezone": scope.timezone,
        "population_source": population_source,
        "population_total": population_total,
        "population": dict(population_info),
        "demand": opts.demand,
        "include_duplicates": opts.include_duplicates,
        "include_transfers": opts.include_transfers,
        "filters": {
            "service_types": None if opts.service_types is None else list(opts.service_types),
            "agencies": None if opts.agencies is None else list(opts.agencies),
            "sources": None if opts.sources is None else list(opts.sources),
        },
        "rows": dict(scope.funnel),
        "rows_explained": {k: ROW_COUNTS[k] for k in scope.funnel},
        "max_days": opts.max_days,
        **extra,
    }


def _table(
    scope: _Scope,
    areas: _Areas,
    population: FloatArray,
    *,
    confidence: float,
    min_population: float,
    min_count: int,
    given: bool,
    requests: pd.DataFrame,
    type_adjusted: bool,
) -> pd.DataFrame:
    counts = _counts(scope, requests)
    y = counts["requests"].astype(float)
    columns: dict[str, Any] = {
        "area_name": pd.array(areas.names, dtype="string"),
        **counts,
        "population": population,
        **_rates(
            y,
            population,
            confidence=confidence,
            min_population=min_population,
            min_count=min_count,
            given=given,
        ),
        "area_km2": areas.km2,
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        columns["requests_per_km2"] = np.where(areas.km2 > 0, y / areas.km2, np.nan)
    columns.update(_time_to_close(scope, confidence, requests, type_adjusted=type_adjusted))
    columns.update(_due_dates(scope, confidence, requests))
    frame = pd.DataFrame({c: columns[c] for c in TABLE_COLUMNS}, index=areas.ids)
    for column in INTEGER_COLUMNS:
        frame[column] = frame[column].astype(np.int64)
    for column in CATEGORY_COLUMNS:
        frame[column] = frame[column].astype("string")
    return frame


def _check_thresholds(min_population: float, min_count: int, confidence: float) -> None:
    problems = []
    if not (math.isfinite(min_population) and min_population >= 0):
        problems.append(f"min_population must be a number >= 0, got {min_population!r}")
    if not (isinstance(min_count, int | np.integer) and min_count >= 0):
        problems.append(f"min_count must be an integer >= 0, got {min_count!r}")
    if not 0.0 < confidence < 1.0:
        problems.append(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if problems:
        msg = "; ".join(problems)
        raise OptionError(msg)


def _indicators(
    requests: pd.DataFrame,
    *,
    city: bool,
    log_sources: bool = True,
    key: str,
    areas: Any,
    population: pd.Series | Mapping[str, float] | None,
    population_source: str,
    as_of: AsOf | None,
    period: tuple[TimeLike | None, TimeLike | None] | None,
    service_types: str | Sequence[str] | None,
    agencies: str | Sequence[str] | None,
    sources: str | Sequence[str] | None,
    demand: str,
    include_duplicates: bool,
    include_transfers: bool,
    min_population: float,
    min_count: int,
    confidence: float,
    timezone: str | None,
    max_days: float | None,
    land_km2: pd.Series | Mapping[str, float] | None = None,
    regroup: Mapping[str, str] | None = None,
    type_adjusted: bool = True,
) -> pd.DataFrame:
    opts = _options(
        key=key,
        as_of=as_of,
        period=period,
        service_types=service_types,
        agencies=agencies,
        sources=sources,
        demand=demand,
        include_duplicates=include_duplicates,
        include_transfers=include_transfers,
        timezone=timezone,
        max_days=max_days,
        regroup=regroup,
    )
    _check_thresholds(min_population, min_count, confidence)
    _check_columns(requests, opts)
    layer_areas = _resolve_areas(requests, key, areas, population)
    if land_km2 is not None:
        land = pd.Series(land_km2, dtype=float).rename(index=str)
        measured = pd.Series(layer_areas.km2, index=layer_areas.ids.astype(str))
        layer_areas = replace(
            layer_areas, km2=land.reindex(measured.index).fillna(measured).to_numpy(float)
        )
    pop, pop_info = _population(population, layer_areas.ids)
    # no channel codes (the table does not read them), service types only for the O/E
    parts = frozenset({"service", "vintage"} if type_adjusted else {"vintage"})
    scope = _select(requests, opts, layer_areas.ids, city=city, parts=parts)
    if log_sources and not city:  # the citywide row of the same call would repeat it
        _log_warnings(scope.times, f"indicators for {key}")
    known = np.isfinite(pop)
    total = float(pop[known].sum()) if population is not None else float("nan")
    if city:
        table_areas = _Areas(
            ids=pd.Index([CITY_ID], dtype=object, name="area_id"),
            names=np.array(["City total"], dtype=object),
            km2=np.array([float(np.nansum(layer_areas.km2)) if layer_areas.km2.size
                          and np.isfinite(layer_areas.km2).all() else np.nan]),
            vintage=layer_areas.vintage,
            crs=layer_areas.crs,
        )  # fmt: skip
        table_pop = np.array([total])
    else:
        table_areas = layer_areas
        table_pop = pop
    frame = _table(
        scope,
        table_areas,
        table_pop,
        confidence=confidence,
        min_population=min_population,
        min_count=min_count,
        given=population is not None,
        requests=requests,
        type_adjusted=type_adjusted,
    )
    frame.attrs["geo311"] = _metadata(
        scope,
        opts,
        table_areas,
        population_source=population_source,
        population_info=pop_info,
        population_total=total,
        extra={
            "areas": len(layer_areas.ids),
            "city": city,
            "confidence": confidence,
            "min_population": min_population,
            "min_count": min_count,
            "horizons_days": list(HORIZONS_DAYS),
            "type_adjustment": (
                "observed/expected closures; expected = sum over requests of the citywide "
                "Nelson-Aalen cumulative hazard of the request's service type at its "
                "follow-up time (closure, or as_of when open)"
                if type_adjusted
                else None
            ),
        },
    )
    log.info(
        "indicators for %s%s: %s counted requests in %d areas (%s in scope, as of %s)",
        key,
        " (city)" if city else "",
        f"{scope.funnel['counted']:,}",
        len(table_areas.ids),
        f"{scope.funnel['in_scope']:,}",
        scope.as_of.isoformat(),
    )
    return frame


# --------------------------------------------------------------------------- public API


def area_indicators(
    requests: pd.DataFrame,
    *,
    key: str,
    areas: Any = None,
    population: pd.Series | Mapping[str, float] | None = None,
    population_source: str = "",
    as_of: AsOf | None = None,
    period: tuple[TimeLike | None, TimeLike | None] | None = None,
    service_types: str | Sequence[str] | None = None,
    agencies: str | Sequence[str] | None = None,
    sources: str | Sequence[str] | None = None,
    demand: Demand = "resident",
    include_duplicates: bool = False,
    include_transfers: bool = False,
    min_population: float = 100,
    min_count: int = 20,
    confidence: float = 0.95,
    timezone: str | None = None,
    max_days: float | None = None,
    land_km2: pd.Series | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Return one row of indicators per area of a layer (METRICS.md items 1-8).

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests joined to the layer (columns ``<key>_id``, and
        optionally ``<key>_name`` / ``<key>_vintage``; see
        :func:`geo311.assign_areas`).  Not modified.
    key : str
        Layer key, e.g. ``"neighborhoods"``.
    areas : geo311.Layer or geopandas.GeoDataFrame, optional
        The layer's areas (``area_id``, ``area_name``, ``geometry``); every
        area gets a row, including areas without requests, and ``area_km2`` is
        measured in the layer's projected CRS (or the UTM zone).  Default:
        the ids present in the data (and in ``population``), without land area.
    population : pandas.Series, optional
        Residents per ``area_id``.  Areas without a value are ``insufficient``;
        without it the layer has no denominator, and every ``rate_flag`` is
        ``no_denominator`` (counts and ``requests_per_km2`` are still computed).
    population_source : str
        Denominator source and year, recorded in the metadata.
    as_of : str or datetime-like, or mapping of str to datetime-like, optional
        The export time: open requests are censored here, and requests
        created later are ignored.  Naive values are local wall time in
        ``timezone``.  A mapping ``{input_file: time}`` sets it per input
        file (by ``input_file`` value or file name).  Default, and for files
        the mapping does not name: each file's own latest timestamp (every
        request is censored at its own source's extract time, never at a
        later file's; see :mod:`geo311.indicators.sources`).
    period : (start, end), optional
        Half-open ``[start, end)`` on ``requested_datetime``; either end may
        be None.  Naive values are local wall time in ``timezone``.
    service_types, agencies, sources : str or sequence of str, optional
        Keep requests whose ``service_name`` or ``service_code``,
        ``agency_responsible`` or ``source`` (channel) is one of these.
    demand : {"resident", "proactive", "all"}, default "resident"
        Which requests count as demand (:data:`geo311.indicators.scope.DEMAND`).
    include_duplicates, include_transfers : bool, default False
        Count requests marked duplicate / transferred.
    min_population : float, default 100
        Below this population the rate is ``insufficient`` (not shown).
    min_count : int, default 20
        Below this many requests the rate is ``unstable``.
    confidence : float, default 0.95
        Level of every interval.
    timezone : str, optional
        IANA zone for naive ``as_of`` / ``period`` values.  Default:
        ``requests.attrs["timezone"]``, else UTC.
    max_days : float, optional
        Closed requests that took longer are implausible: excluded from time
        to close and counted (``ttc_excluded_implausible``).
    land_km2 : pandas.Series, optional
        Land area (km², water excluded) per ``area_id``, e.g. the
        ``land_km2`` of :func:`geo311.layer_population`; used for ``area_km2``
        and ``requests_per_km2`` instead of the whole polygon's area.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``area_id`` (the layer's ids, in layer order), columns
        described in :data:`geo311.catalogue.CATALOGUE`.  ``frame.attrs["geo311"]``
        holds the metadata: layer and vintages, period, as-of (``as_of``: the
        latest of the sources'; ``sources``: per input file its rows, first
        and last creation time and as-of time; ``warnings``: sources more than
        a day apart), time zone, denominator source and total, filters and
        the row funnel ``rows``
        (requests dropped at each scope step and set aside, and why: see
        :data:`geo311.indicators.scope.ROW_COUNTS`, repeated in ``rows_explained``).

    Raises
    ------
    SchemaError
        When required columns are missing or timestamps are not tz-aware.
    OptionError
        For invalid options (listed together), or an ``as_of`` mapping that
        names a file the requests do not come from.
    DataError
        For a negative or repeated population, or requests without any
        timestamp when ``as_of`` is not given.

    Notes
    -----
    Write the table with the area id as its first column
    (``geo311.io.writers.write_csv(frame)``); merge it into a layer with
    ``gdf.merge(frame, left_on="area_id", right_index=True)``.
    """
    return _indicators(
        requests,
        city=False,
        key=key,
        areas=areas,
        population=population,
        population_source=population_source,
        as_of=as_of,
        period=period,
        service_types=service_types,
        agencies=agencies,
        sources=sources,
        demand=demand,
        include_duplicates=include_duplicates,
        include_transfers=include_transfers,
        min_population=min_population,
        min_count=min_count,
        confidence=confidence,
        timezone=timezone,
        max_days=max_days,
        land_km2=land_km2,
    )


def city_indicators(
    requests: pd.DataFrame,
    *,
    key: str,
    areas: Any = None,
    population: pd.Series | Mapping[str, float] | None = None,
    population_source: str = "",
    as_of: AsOf | None = None,
    period: tuple[TimeLike | None, TimeLike | None] | None = None,
    service_types: str | Sequence[str] | None = None,
    agencies: str | Sequence[str] | None = None,
    sources: str | Sequence[str] | None = None,
    demand: Demand = "resident",
    include_duplicates: bool = False,
    include_transfers: bool = False,
    min_population: float = 100,
    min_count: int = 20,
    confidence: float = 0.95,
    timezone: str | None = None,
    max_days: float | None = None,
    land_km2: pd.Series | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Return the citywide row: the same indicators over every area of the layer together.

    Takes exactly the arguments of :func:`area_indicators`, so that a
    district page can set its row beside the city's.  The city is the union
    of the layer's areas: requests not assigned to an area are left out (as
    in every area row), the population is the sum of the known area
    populations and ``area_km2`` the sum of the areas.  By construction
    ``ttc_type_adjusted_ratio`` and ``ttc_crude_ratio`` are 1 and the rate
    ratio is undefined (NaN).

    Returns
    -------
    pandas.DataFrame
        One row, index ``area_id == "city"``
        (:data:`geo311.indicators.scope.CITY_ID`), the columns of
        :func:`area_indicators`, metadata in ``attrs["geo311"]``.
    """
    return _indicators(
        requests,
        city=True,
        key=key,
        areas=areas,
        population=population,
        population_source=population_source,
        as_of=as_of,
        period=period,
        service_types=service_types,
        agencies=agencies,
        sources=sources,
        demand=demand,
        include_duplicates=include_duplicates,
        include_transfers=include_transfers,
        min_population=min_population,
        min_count=min_count,
        confidence=confidence,
        timezone=timezone,
        max_days=max_days,
        land_km2=land_km2,
    )


def _regrouped_indicators(
    requests: pd.DataFrame,
    *,
    regroup: Mapping[str, str],
    type_adjusted: bool = True,
    **options: Any,
) -> pd.DataFrame:
    """Return :func:`area_indicators` of groups of areas, without logging the source warnings.

    For tables that re-tabulate requests already tabulated per area: each
    area id of ``regroup`` counts for its group (the ``areas`` given), areas
    outside it are not assigned.  The requests are not copied, so the
    selection work of :func:`~geo311.indicators.shared.shared_selection` is reused.
    The source warnings are left to the area table, which logs them.
    ``type_adjusted=False`` leaves the type-mix columns empty (NaN).
    """
    bound = inspect.signature(area_indicators).bind(requests, **options)
    bound.apply_defaults()
    return _indicators(
        *bound.args,
        city=False,
        log_sources=False,
        regroup=regroup,
        type_adjusted=type_adjusted,
        **bound.kwargs,
    )
