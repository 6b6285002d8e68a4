"""One layer as the site shows it: its tables in memory, its title and how its areas are named.

:func:`site_layer` takes the :class:`~geo311.indicators.tables.LayerTables`
the indicator stage returned (nothing is read back from disk) and gives the
areas their display names with :func:`area_label`, a format such as
``"Council District {id}"`` that may come from a user's file: it accepts
only the plain fields ``{id}`` and ``{name}``, so a format can never reach an
attribute, an index or a conversion of the values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import geopandas as gpd
import pandas as pd

from geo311._errors import ConfigError, SchemaError
from geo311.join.display import display_name, display_problem

if TYPE_CHECKING:
    from geo311.indicators.tables import LayerTables

__all__ = [
    "SiteLayer",
    "area_label",
    "check_label_format",
    "default_title",
    "singular",
    "site_layer",
]


class SiteLayer(NamedTuple):
    """The tables of one layer, as the site's pages read them."""

    key: str
    title: str  # plural, e.g. "Council districts"
    indicators: pd.DataFrame  # one row per area, indexed by area_id (str), with area_name
    city: pd.Series  # the citywide row
    patterns: pd.DataFrame  # tidy, column area_id (areas, then "city")
    services: pd.DataFrame  # tidy, column area_id (areas, then "city")
    areas: gpd.GeoDataFrame  # area_id, area_name, geometry (EPSG:4326)
    metadata: dict[str, Any]
    equity: pd.DataFrame  # one row per equity measure (quintiles, ratios, indices)
    disparity: pd.DataFrame  # METRICS 13 per area, indexed by area_id (str); may be empty
    # headline figures of the previous period, areas then "city"; None: not in the data
    previous: pd.DataFrame | None = None

    @property
    def no_denominator(self) -> bool:
        """Whether the layer has no population at all (every ``rate_flag`` is ``no_denominator``).

        Its pages then show counts and requests per km², and say "no
        population denominator for this layer" where a rate would be.
        """
        flags = self.indicators.get("rate_flag")
        if flags is None or not len(flags):
            return False
        return bool(flags.astype("string").eq("no_denominator").all())


def default_title(key: str) -> str:
    """Return the title of a layer key in words.

    Examples
    --------
    >>> default_title("council_districts")
    'Council districts'
    """
    return key.replace("_", " ").capitalize()


def singular(title: str) -> str:
    """Return a plural layer title as one area in words.

    Examples
    --------
    >>> singular("Council districts"), singular("Census tracts"), singular("Wards")
    ('council district', 'census tract', 'ward')
    """
    words = title.lower()
    return words[:-1] if words.endswith("s") else words


def check_label_format(fmt: str, *, what: str = "area label") -> None:
    """Raise ConfigError unless ``fmt`` uses only the plain fields ``{id}`` and ``{name}``.

    The rule is the manifest's ``display`` rule
    (:func:`geo311.join.display.display_problem`).

    Examples
    --------
    >>> check_label_format("Ward {id}")
    >>> check_label_format("{name.__class__}")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geo311._errors.ConfigError: area label '{name.__class__}': placeholder ... not allowed; ...
    """
    problem = display_problem(fmt)
    if problem is not None:
        msg = f"{what} {fmt!r}: {problem}"
        raise ConfigError(msg)


def area_label(fmt: str, *, area_id: str, name: str) -> str:
    """Fill a label format with an area's id and name (values inserted as plain text).

    Examples
    --------
    >>> area_label("Council District {id}", area_id="5", name="Fifth")
    'Council District 5'
    >>> area_label("{name}", area_id="5", name="{id} {{x}}")
    '{id} {{x}}'
    """
    check_label_format(fmt)
    return display_name(fmt, area_id, name)


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string")


def site_layer(key: str, tables: LayerTables, *, title: str, label: str = "{name}") -> SiteLayer:
    """Return a layer's tables as the site reads them, its areas named with ``label``.

    Parameters
    ----------
    key : str
        Layer key.
    tables : LayerTables
        What the indicator stage returned for the layer; not modified.
    title : str
        Plural title of the layer ("Council districts").
    label : str, default "{name}"
        Display name of each area: a format with only ``{id}`` and ``{name}``.

    Raises
    ------
    SchemaError
        The outlines lack an id column, or areas of the indicator table.
    """
    check_label_format(label)
    indicators = _bare(tables.indicators)
    indicators.index = pd.Index(indicators.index.astype(str), name="area_id")
    areas = tables.areas.copy()
    if areas.crs is None:
        areas = areas.set_crs("EPSG:4326")
    areas = areas.to_crs("EPSG:4326")
    if "area_id" not in areas:
        msg = (
            f"the outlines of layer {key!r} have no area_id column (columns: "
            f"{list(areas.columns)}); were they made by geo311's indicator stage?"
        )
        raise SchemaError(msg)
    areas["area_id"] = _text(areas["area_id"])
    names = areas["area_name"] if "area_name" in areas else pd.Series(pd.NA, index=areas.index)
    areas["area_name"] = _text(names).fillna(areas["area_id"])
    if "area_name" not in indicators:  # name the areas after the outlines, else their ids
        by_id = areas.drop_duplicates("area_id").set_index("area_id")["area_name"]
        indicators["area_name"] = [str(by_id.get(i, i)) for i in indicators.index]
    missing = sorted(set(indicators.index) - set(areas["area_id"]))
    if missing:
        msg = (
            f"the outlines of layer {key!r} lack {len(missing)} area(s) of its indicator table "
            f"(e.g. {missing[:3]}); were both made by the same indicator run?"
        )
        raise SchemaError(msg)
    if label != "{name}":
        indicators["area_name"] = [
            area_label(label, area_id=str(i), name="" if pd.isna(n) else str(n))
            for i, n in zip(indicators.index, indicators["area_name"], strict=True)
        ]
        areas["area_name"] = [
            area_label(label, area_id=str(i), name=str(n))
            for i, n in zip(areas["area_id"], areas["area_name"], strict=True)
        ]
    city = _bare(tables.city).iloc[0] if len(tables.city) else pd.Series(dtype=object)
    return SiteLayer(
        key=key,
        title=title,
        indicators=indicators,
        city=city,
        patterns=_tidy(tables.patterns),
        services=_tidy(tables.services),
        areas=areas,
        metadata=dict(tables.metadata),
        equity=_bare(tables.equity),
        disparity=_by_area(tables.disparity),
        previous=None if tables.previous is None else _by_area(tables.previous),
    )


def _bare(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` without its ``attrs``.

    The site reads a layer's metadata from :attr:`SiteLayer.metadata`; pandas
    deep-copies ``attrs`` into every row, slice and result of a frame, which
    made reading the tables row by row cost more than rendering the pages.
    """
    out = frame.copy()
    out.attrs = {}
    return out


def _by_area(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Return a per-area table indexed by ``area_id`` as text (empty when there is none)."""
    if frame is None:
        return pd.DataFrame(index=pd.Index([], name="area_id", dtype=str))
    out = _bare(frame)
    out.index = pd.Index(out.index.astype(str), name="area_id")
    return out


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a tidy table with ``area_id`` as a text column (the tables index by it)."""
    out = _bare(frame.reset_index() if "area_id" not in frame.columns else frame)
    out["area_id"] = out["area_id"].astype(str)
    return out
