"""What a city manifest declares for denominators: its land outline and dasymetric weights.

:func:`city_outline` reads the shoreline-clipped city (manifest ``city_outline``)
that tracts are clipped to and land areas are measured in;
:func:`ancillary_weights` turns the manifest's ``ancillary`` layer into a
dasymetric mask for :func:`geo311.population.interpolation.interpolate`: a
count per area (e.g. 2020 block housing units) becomes a density per m², or a
land-use class column becomes class weights
(:func:`geo311.population.interpolation.land_use_weights`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo311._errors import SchemaError
from geo311.join.layers import DenominatorInputs, file_content_sha256, read_boundary_content
from geo311.population.interpolation import land_use_weights

__all__ = ["ancillary_weights", "city_outline", "denominator_files_key"]


def _read(path: Path) -> gpd.GeoDataFrame:
    """Read once per process and content: the files serve every layer (and validation)."""
    return read_boundary_content(path, file_content_sha256(path))


def denominator_files_key(inputs: DenominatorInputs | None) -> dict[str, Any] | None:
    """Return what :func:`city_outline` and :func:`ancillary_weights` read, for a cache key.

    Parameters
    ----------
    inputs : DenominatorInputs or None
        From a loaded :class:`geo311.join.layers.Layer`.

    Returns
    -------
    dict or None
        JSON-serialisable: the SHA-256 of the outline and ancillary files
        (:func:`geo311.join.layers.file_content_sha256`) with what the
        manifest declares about them (CRS, field, classes), so a key made from
        it changes with either file without reading them as layers.
    """
    if inputs is None:
        return None
    spec = inputs.ancillary_spec
    outline = inputs.outline
    ancillary = inputs.ancillary
    return {
        "outline": None if outline is None else [file_content_sha256(outline), inputs.outline_crs],
        "ancillary": None
        if ancillary is None or spec is None
        else [
            file_content_sha256(ancillary),
            spec.field,
            None if spec.classes is None else dict(spec.classes),
        ],
    }


def city_outline(inputs: DenominatorInputs) -> gpd.GeoDataFrame | None:
    """Return the city's land outline as one valid polygon feature, or None.

    Parameters
    ----------
    inputs : DenominatorInputs
        From a :class:`geo311.join.layers.Layer` loaded from a manifest.

    Returns
    -------
    geopandas.GeoDataFrame or None
        One row (the union of the file's polygons, repaired), in the file's
        CRS or the declared one when the file has none.
    """
    if inputs.outline is None:
        return None
    frame = _read(inputs.outline)
    crs = frame.crs if frame.crs is not None else inputs.outline_crs
    union = shapely.make_valid(shapely.union_all(frame.geometry.to_numpy()))
    return gpd.GeoDataFrame(geometry=[union], crs=crs)


def ancillary_weights(inputs: DenominatorInputs, *, projected_crs: str) -> gpd.GeoDataFrame | None:
    """Return the dasymetric mask the manifest declares (``weight`` per polygon), or None.

    Parameters
    ----------
    inputs : DenominatorInputs
        From a loaded :class:`geo311.join.layers.Layer`.
    projected_crs : str
        Metre-based CRS the densities are computed in.

    Returns
    -------
    geopandas.GeoDataFrame or None
        Polygons with a positive ``weight``: with ``classes``, the class
        weights; otherwise the count field divided by the polygon's area in
        m² (a density, so a piece of land weighs the count times its share of the
        polygon).

    Raises
    ------
    SchemaError
        The field is missing, or (without ``classes``) not numeric.
    """
    spec = inputs.ancillary_spec
    if inputs.ancillary is None or spec is None:
        return None
    frame = _read(inputs.ancillary)
    if spec.classes is not None:
        return land_use_weights(frame, column=spec.field, weights=dict(spec.classes))
    if spec.field not in frame.columns:
        msg = (
            f"{inputs.ancillary}: the manifest's ancillary field {spec.field!r} is missing; "
            f"columns are {list(frame.columns)}"
        )
        raise SchemaError(msg)
    counts = frame[spec.field]
    if not np.issubdtype(counts.dtype, np.number):
        msg = (
            f"{inputs.ancillary}: ancillary field {spec.field!r} must be a count (numeric); "
            f"for a land-use class column declare classes = {{ Residential = 1.0 }}"
        )
        raise SchemaError(msg)
    area = frame.geometry.to_crs(projected_crs).area.to_numpy()
    values = counts.to_numpy(dtype="float64", na_value=np.nan)
    density = np.zeros(len(frame))
    np.divide(values, area, out=density, where=(area > 0) & np.isfinite(values))
    out = gpd.GeoDataFrame({"weight": density}, geometry=frame.geometry.to_numpy(), crs=frame.crs)
    return out.loc[out["weight"] > 0].reset_index(drop=True)
