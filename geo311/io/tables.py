"""Read back the indicator tables of a folder written by ``geo311 indicators``.

:func:`read_tables` is the inverse of
:func:`geo311.indicators.tables.write_tables`: per layer ``<key>.csv``,
``<key>.json``, ``<key>.city.csv``, ``<key>.patterns.csv``,
``<key>.channels.csv``, ``<key>.services.csv``, ``<key>.disparity.csv``,
``<key>.geojson``, ``<key>.previous.csv`` (when the metadata say the previous
period is covered) and the layer's rows of ``equity.csv``, as
:class:`~geo311.indicators.tables.LayerTables` held in memory. The
apostrophe the CSV writer puts before text that a spreadsheet could run as a
formula is removed again (:func:`geo311.io.writers.restore_text`). ``geo311 maps DIR`` is
``read_tables`` followed by :func:`geo311.site.build.build_site`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo311._errors import InputFileError, SchemaError
from geo311.indicators.tables import LayerTables
from geo311.io.writers import restore_text

__all__ = ["layer_keys", "read_tables"]

_WRITER = "geo311 indicators JOINED --city CITY --layer {key} --out {folder}"
_TEXT = {"area_id": str, "area_name": str, "service_type": str, "bucket": str, "channel": str}


def _missing(path: Path, key: str, what: str) -> InputFileError:
    folder = path.parent
    msg = (
        f"missing {path.name} in {folder}: {what} of layer {key!r} are written by "
        f"`{_WRITER.format(key=key, folder=folder)}`"
    )
    return InputFileError(msg)


def _read_csv(path: Path, key: str, *, index: bool = True) -> pd.DataFrame:
    """Read one table, undo the formula guard of its text cells, index it by area_id."""
    if not path.is_file():
        raise _missing(path, key, "the tables")
    frame = pd.read_csv(path, dtype=_TEXT, keep_default_na=False, na_values=[""], encoding="utf-8")
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(restore_text)
    if not index:
        return frame
    if "area_id" not in frame:
        msg = f"{path} has no area_id column; was it written by `geo311 indicators`?"
        raise SchemaError(msg)
    return frame.set_index("area_id")


def layer_keys(indicators_dir: str | Path) -> list[str]:
    """Return the layer keys of an indicators folder (every ``<key>.json`` naming its layer).

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


def _read_layer(folder: Path, key: str, equity: pd.DataFrame) -> LayerTables:
    meta_path = folder / f"{key}.json"
    if not meta_path.is_file():
        raise _missing(meta_path, key, "the tables")
    metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    geo_path = folder / f"{key}.geojson"
    if not geo_path.is_file():
        raise _missing(geo_path, key, "the area outlines")
    areas = gpd.read_file(geo_path)
    if "area_id" not in areas:
        msg = (
            f"{geo_path} has no area_id property (columns: {list(areas.columns)}); was it "
            "written by `geo311 indicators`?"
        )
        raise SchemaError(msg)
    areas = (areas.set_crs("EPSG:4326") if areas.crs is None else areas).to_crs("EPSG:4326")
    areas["area_id"] = areas["area_id"].astype("string").map(restore_text).astype("string")
    if "area_name" in areas:
        areas["area_name"] = areas["area_name"].astype("string").map(restore_text)
    mine = equity[equity["layer"] == key].drop(columns="layer") if "layer" in equity else equity
    disparity_path = folder / f"{key}.disparity.csv"  # absent from older folders
    disparity = _read_csv(disparity_path, key, index=False) if disparity_path.is_file() else None
    if disparity is not None and "area_id" not in disparity:  # written empty: no populations
        disparity = None
    covered = (metadata.get("previous_period") or {}).get("covered")
    previous = _read_csv(folder / f"{key}.previous.csv", key) if covered else None
    return LayerTables(
        indicators=_read_csv(folder / f"{key}.csv", key),
        city=_read_csv(folder / f"{key}.city.csv", key),
        patterns=_read_csv(folder / f"{key}.patterns.csv", key),
        channels=_read_csv(folder / f"{key}.channels.csv", key),
        services=_read_csv(folder / f"{key}.services.csv", key),
        equity=mine.reset_index(drop=True),
        metadata=metadata,
        areas=areas,
        disparity=None if disparity is None else disparity.set_index("area_id"),
        previous=previous,
    )


def read_tables(
    indicators_dir: str | Path, *, layers: Sequence[str] | None = None
) -> dict[str, LayerTables]:
    """Read the tables ``geo311 indicators`` wrote, per layer, into memory.

    Parameters
    ----------
    indicators_dir : str or pathlib.Path
        A folder written by :func:`geo311.indicators.tables.write_tables`.
    layers : sequence of str, optional
        Layer keys to read; default every layer in the folder.

    Returns
    -------
    dict of str to LayerTables
        Area ids are text; tidy tables (patterns, channels, services) are
        indexed by ``area_id`` as the indicator stage returns them.

    Raises
    ------
    InputFileError
        Naming the missing file or layer and the command that writes it.
    SchemaError
        A table or the outlines lack the ``area_id`` column.
    """
    folder = Path(indicators_dir)
    keys = layer_keys(folder) if layers is None else list(layers)
    if layers is not None and not folder.is_dir():
        layer_keys(folder)  # the error naming the folder and the command
    equity_path = folder / "equity.csv"
    equity = (
        _read_csv(equity_path, "equity", index=False)
        if equity_path.is_file()
        else pd.DataFrame({"layer": []})
    )
    return {key: _read_layer(folder, key, equity) for key in keys}
