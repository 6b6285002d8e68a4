"""Write indicator tables for people: CSV, XLSX and JSON metadata, injection-safe.

311 text (service names, area names, notes) is typed by the public or by
staff.  A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return can be run as a formula when a spreadsheet opens the file (CSV/formula
injection).  Every *text* cell written here is neutralised:

* CSV: such a value gets a leading apostrophe (``'=cmd``), the mitigation
  OWASP recommends; numbers are never touched, so ``-3.2`` stays a number.
* XLSX: every text cell is stored as a string, never a formula, and a
  dangerous one is additionally marked with Excel's quote prefix, so it
  displays as typed and cannot become a formula when edited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from geo311.io.atomic import atomic_write
from geo311.io.xlsx import save_workbook

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "neutralize_text",
    "write_csv",
    "write_geojson",
    "write_metadata",
    "write_workbook",
    "write_xlsx",
]

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
WGS84 = 4326


def _is_dangerous(value: object) -> bool:
    return isinstance(value, str) and value.startswith(_DANGEROUS)


def neutralize_text(value: object) -> object:
    """Return ``value`` with a leading apostrophe if it could run as a formula.

    Examples
    --------
    >>> neutralize_text("=1+1"), neutralize_text("Pothole"), neutralize_text(-3)
    ("'=1+1", 'Pothole', -3)
    """
    return f"'{value}" if _is_dangerous(value) else value


def _is_text(dtype: Any) -> bool:
    """Text columns: strings, objects, and categoricals of text (e.g. ``service_name``)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return _is_text(dtype.categories.dtype)
    return pd.api.types.is_string_dtype(dtype) or dtype == np.dtype(object)


def _text_columns(frame: pd.DataFrame) -> list[Any]:
    return [c for c in frame.columns if _is_text(frame[c].dtype)]


def _plain_copy(frame: pd.DataFrame, *, index: bool) -> pd.DataFrame:
    """Return a copy of ``frame`` (its index as the first column) without ``attrs``.

    The tables carry their metadata in ``attrs``, which pandas deep-copies on
    every column operation; it is written beside them, not in the cells.
    """
    out = frame.reset_index() if index else frame.copy()
    out.attrs = {}
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = True) -> Path:
    """Write ``frame`` as UTF-8 CSV with every text cell neutralised.

    Parameters
    ----------
    frame : pandas.DataFrame
        Not modified.
    path : str or pathlib.Path
        Written atomically.
    index : bool, default True
        Write the index (the area id) as the first column.

    Returns
    -------
    pathlib.Path
    """
    out = _plain_copy(frame, index=index)
    for col in _text_columns(out):
        text = out[col].astype("string")
        danger = text.str.startswith(_DANGEROUS).fillna(False).to_numpy(bool)
        out[col] = text.mask(danger, "'" + text)
    path = Path(path)
    with atomic_write(path) as tmp:
        # CRLF rows (RFC 4180) make the writer quote any field holding a bare CR or LF.
        out.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\r\n")
    return path


def write_xlsx(
    frame: pd.DataFrame, path: str | Path, *, sheet: str = "indicators", index: bool = True
) -> Path:
    """Write ``frame`` to an Excel workbook; text cells are never formulas.

    Parameters
    ----------
    frame : pandas.DataFrame
        Not modified.
    path : str or pathlib.Path
        Written atomically.
    sheet : str, default "indicators"
        Worksheet name.
    index : bool, default True
        Write the index as the first column.

    Returns
    -------
    pathlib.Path
    """
    return write_workbook({sheet: frame}, path, index=index)


def write_workbook(
    sheets: Mapping[str, pd.DataFrame], path: str | Path, *, index: bool = True
) -> Path:
    r"""Write frames to one Excel workbook, a worksheet each; text cells are never formulas.

    Parameters
    ----------
    sheets : mapping of str to pandas.DataFrame
        Worksheet name -> its table, in order.  Not modified.  Names are
        made valid for Excel (see :func:`geo311.io.xlsx.sheet_names`): cut to
        31 characters, ``[]:*?/\`` replaced by ``_``, repeats numbered.
    path : str or pathlib.Path
        Written atomically.
    index : bool, default True
        Write each frame's index as its first column.

    Returns
    -------
    pathlib.Path
    """
    frames = {name: _plain_copy(frame, index=index) for name, frame in sheets.items()}
    path = Path(path)
    with atomic_write(path) as tmp:
        save_workbook(frames, tmp, dangerous=_is_dangerous)
    return path


def write_geojson(frame: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write ``frame`` as a GeoJSON FeatureCollection in EPSG:4326 (RFC 7946), atomically.

    Coordinates are written in their shortest exact decimal form
    (``shapely.to_geojson``), so the geometry reads back bit for bit;
    missing property values are ``null``.  Much faster than
    ``to_file(driver="GeoJSON")`` for detailed outlines.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        Not modified; reprojected to EPSG:4326 when it has another CRS.
    path : str or pathlib.Path

    Returns
    -------
    pathlib.Path
    """
    if frame.crs is not None and frame.crs.to_epsg() != WGS84:
        frame = frame.to_crs(WGS84)
    geometry = shapely.to_geojson(frame.geometry.to_numpy())
    props = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    props = props.astype(object).where(props.notna(), None)
    features = ",\n".join(
        '{"type": "Feature", "properties": %s, "geometry": %s}'  # noqa: UP031
        % (json.dumps(record, ensure_ascii=False, default=_json_default), shape or "null")
        for record, shape in zip(props.to_dict("records"), geometry, strict=True)
    )
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(
            '{"type": "FeatureCollection", "features": [\n' + features + "\n]}\n",
            encoding="utf-8",
        )
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def write_metadata(metadata: Mapping[str, Any], path: str | Path) -> Path:
    """Write a metadata mapping as indented JSON (timestamps as ISO 8601).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(
            json.dumps(dict(metadata), indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
    return path


def restore_text(value: object) -> object:
    """Undo :func:`neutralize_text`: drop the apostrophe written before a formula character.

    Examples
    --------
    >>> restore_text("'=1+1"), restore_text("'Pothole"), restore_text(-3)
    ('=1+1', "'Pothole", -3)
    """
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(_DANGEROUS):
        return value[1:]
    return value
