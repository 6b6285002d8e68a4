"""Which district each smaller area belongs to: the one holding most of its area."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo311._errors import SchemaError
from geo311.crs import projected_crs

__all__ = ["district_membership"]


def district_membership(
    areas: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    *,
    split_share: float = 0.01,
) -> pd.DataFrame:
    """Assign each area to the district that holds most of its area.

    Areas are measured in a projected CRS (:func:`geo311.crs.projected_crs`).
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
    crs = areas.crs if areas.crs.is_projected else projected_crs(areas, where="the areas")
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
