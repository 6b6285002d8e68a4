"""Compare the spatial join with the area labels a city puts in its own export.

Many 311 exports carry the city's own idea of where a request is (Baltimore
``Neighborhood``, ``CouncilDistrict``; Los Angeles ``NC``, ``CD``).  Where they
disagree with geo311's point-in-polygon assignment, each mismatch is put in
one category, first match wins:

``outside_all``
    the point lies in no area of the layer (outside it or in a gap);
``renamed``
    the label is a former name (alias) of the assigned area;
``other_vintage``
    the label names an area of another vintage of the layer, absent from the
    vintage used;
``near_boundary``
    the labelled area is within ``near_m`` metres of the point;
``outside_validity``
    the request is dated outside the validity of the vintage used (e.g. an
    area created later), so the city labelled it on other boundaries;
``unknown_label``
    the label matches no area of any vintage;
``far``
    none of the above: the label and the point disagree by more than
    ``near_m``.

Labels and areas are compared after :func:`normalize_label` (case,
punctuation, ``&``/``and``, leading zeros of numbers), and after the layer's
declared label transform, if any ("Ward 3" -> "3";
:mod:`geo311.join.label_transform`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo311.crs import projected_crs
from geo311.join.layers import Layer
from geo311.join.manifest import LabelSpec, ManifestError

__all__ = ["LabelCheck", "compare_labels", "normalize_label"]

CATEGORIES = (
    "outside_all",
    "renamed",
    "other_vintage",
    "near_boundary",
    "outside_validity",
    "unknown_label",
    "far",
)
_LOCATED = ("assigned", "edge_tie", "snapped", "outside", "gap")
_MATCH = ("id", "name")


def normalize_label(values: pd.Series) -> pd.Series:
    """Normalise area labels for comparison.

    Examples
    --------
    >>> import pandas as pd
    >>> normalize_label(pd.Series(["Fells Point & Canton", "07", " Mt. Vernon", None])).tolist()
    ['FELLS POINT AND CANTON', '7', 'MT VERNON', <NA>]
    """
    text = values.astype("string").str.upper().str.replace("&", " AND ", regex=False)
    text = text.str.replace("['\u2019]", "", regex=True)  # apostrophes, straight or curly
    text = text.str.replace(r"[^0-9A-Z]+", " ", regex=True).str.strip()
    text = text.str.replace(r"^0+(?=\d)", "", regex=True)
    text = text.str.replace(r"^(\d+) 0$", r"\1", regex=True)  # "7.0" from a float column
    return text.mask(text == "")


@dataclass
class LabelCheck:
    """The agreement between one layer's join and the source's own labels."""

    layer: str
    label_column: str
    match: str
    compared: int
    agree: int
    not_compared: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    top_mismatches: list[dict[str, Any]] = field(default_factory=list)
    near_m: float = 50.0
    transform: dict[str, Any] | None = None

    @property
    def agreement(self) -> float:
        """Share of compared rows whose label matches the assigned area."""
        return self.agree / self.compared if self.compared else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dictionary."""
        return {
            "layer": self.layer,
            "label_column": self.label_column,
            "match": self.match,
            "transform": self.transform,
            "compared": self.compared,
            "agree": self.agree,
            "agreement": round(self.agreement, 6) if self.compared else None,
            "mismatches": self.compared - self.agree,
            "categories": self.categories,
            "near_m": self.near_m,
            "not_compared": self.not_compared,
            "top_mismatches": self.top_mismatches,
        }

    def summary(self) -> str:
        """One paragraph a person can read."""
        head = (
            f"{self.layer} vs {self.label_column}: {self.compared:,} compared, "
            f"{self.agreement:.2%} agree, {self.compared - self.agree:,} mismatches"
        )
        cats = ", ".join(f"{n:,} {c.replace('_', ' ')}" for c, n in self.categories.items() if n)
        lines = [head + (f" ({cats})" if cats else "")]
        lines.extend(
            f"    {m['count']:>4}  {m['label']!r}"
            + (f" (as {m['compared_as']!r})" if "compared_as" in m else "")
            + f" -> {m['assigned']!r}  [{m['category']}]"
            for m in self.top_mismatches[:10]
        )
        return "\n".join(lines)


def _label_values(frame: pd.DataFrame, column: str) -> pd.Series | None:
    """Return the source label column, coalesced over case variants.

    Files of different export vintages spell the same column differently; each
    keeps its own ``raw_`` column, so the label is the first non-empty one.
    """
    wanted = f"raw_{column}".casefold()
    matches = [c for c in frame.columns if str(c).casefold() == wanted]
    if not matches:
        return None
    values = frame[matches[0]].astype("string")
    for other in matches[1:]:
        values = values.mask(values.isna() | (values == ""), frame[other].astype("string"))
    return values


def _keys(layer: Layer, match: str) -> pd.Series:
    source = layer.gdf["area_id"] if match == "id" else layer.gdf["area_name"]
    return normalize_label(source)


def _aliases(layer: Layer) -> dict[str, set[str]]:
    """Normalised area key -> normalised alias names."""
    if "aliases" not in layer.gdf:
        return {}
    names = normalize_label(layer.gdf["area_name"])
    out: dict[str, set[str]] = {}
    for name, alias in zip(names, layer.gdf["aliases"], strict=True):
        if isinstance(alias, str) and alias:
            # Areas may share a name: keep the former names of all of them.
            out.setdefault(str(name), set()).update(
                normalize_label(pd.Series(alias.split("|"))).dropna()
            )
    return out


def _distance_m(
    layer: Layer, keys: pd.Series, lon: np.ndarray, lat: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Distance (m) from each point to the area(s) named by its label; inf if absent.

    Several areas may carry the same name; the distance is then to the nearest.
    """
    crs = projected_crs(layer.gdf, preferred=layer.projected_crs, where=f"layer {layer.key!r}")
    areas = layer.gdf.geometry.to_crs(crs).to_numpy()
    positions: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        if isinstance(k, str):
            positions.setdefault(k, []).append(i)
    targets = {
        k: areas[p[0]] if len(p) == 1 else shapely.union_all(areas[p])
        for k, p in positions.items()
    }
    shapes = np.array([targets.get(lab) for lab in labels], dtype=object)
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(crs).to_numpy()
    out = np.full(len(labels), np.inf)
    ok = np.array([shape is not None for shape in shapes], dtype=bool)
    if ok.any():
        out[ok] = shapely.distance(points[ok], shapes[ok])
    return out


def _label_specs(labels: Mapping[str, LabelSpec | tuple[str, str]]) -> dict[str, LabelSpec]:
    """Return each layer's label as a :class:`LabelSpec`, checking its ``match``."""
    specs = {
        key: value if isinstance(value, LabelSpec) else LabelSpec(*value)
        for key, value in labels.items()
    }
    wrong = {key: spec.match for key, spec in specs.items() if spec.match not in _MATCH}
    if wrong:
        msg = f"labels must match by 'id' or 'name'; got {wrong}"
        raise ManifestError(msg)
    return specs


def _ranked(
    labels: np.ndarray,
    assigned: np.ndarray,
    category: np.ndarray,
    top: int,
    *,
    compared_as: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Return the ``top`` most frequent mismatching (label, assigned, category) triples.

    With ``compared_as`` (the labels after a transform), each entry also says
    what its label became.
    """
    pairs = pd.DataFrame({"label": labels, "assigned": assigned, "category": category})
    keys = ["label", "assigned", "category"]
    if compared_as is not None:
        pairs["compared_as"] = compared_as
        keys.insert(1, "compared_as")
    ranked = (
        pairs.fillna({"assigned": "(none)"})
        .groupby(keys, dropna=False)
        .size()
        .rename("n")
        .reset_index()
        .sort_values("n", ascending=False, kind="stable")
        .head(top)
    )
    return [
        {
            "label": str(row["label"]),
            **({"compared_as": str(row["compared_as"])} if compared_as is not None else {}),
            "assigned": str(row["assigned"]),
            "category": str(row["category"]),
            "count": int(row["n"]),
        }
        for row in ranked.to_dict(orient="records")
    ]


def _categorise(
    joined: pd.DataFrame,
    key: str,
    vintages: Sequence[Layer],
    label: pd.Series,
    bad: np.ndarray,
    *,
    match: str,
    lon: np.ndarray,
    lat: np.ndarray,
    near_m: float,
) -> np.ndarray:
    """Return the category of each mismatching row ``bad`` (positions in ``joined``)."""
    category = np.full(len(bad), "far", dtype=object)
    vintage_used = joined[f"{key}_vintage"].to_numpy(dtype=object)
    for vintage_layer in vintages:
        if not vintage_layer.has_file:
            continue
        rows_v = bad[vintage_used[bad] == vintage_layer.vintage]
        if not len(rows_v):
            continue
        sel = np.isin(bad, rows_v)
        keys = _keys(vintage_layer, match)
        known_here = set(keys.dropna())
        others = {
            k
            for other in vintages
            if other.has_file and other.vintage != vintage_layer.vintage
            for k in _keys(other, match).dropna()
        }
        aliases = _aliases(vintage_layer)
        labs = label.to_numpy(dtype=object)[rows_v]
        names_here = normalize_label(joined[f"{key}_name"]).to_numpy(dtype=object)[rows_v]
        st = joined[f"{key}_join"].to_numpy(dtype=object)[rows_v]
        dist = _distance_m(vintage_layer, keys, lon[rows_v], lat[rows_v], labs)
        when = joined["requested_datetime"].iloc[rows_v]
        days = when.dt.tz_convert("UTC").dt.date.to_numpy(dtype=object)
        invalid = np.array([d is not pd.NaT and not vintage_layer.valid_on(d) for d in days])
        cats = np.full(len(rows_v), "far", dtype=object)
        renamed = np.array(
            [lab in aliases.get(str(nm), set()) for lab, nm in zip(labs, names_here, strict=True)]
        )
        other_v = np.array([lab not in known_here and lab in others for lab in labs])
        unknown = np.array([lab not in known_here and lab not in others for lab in labs])
        # Assign in reverse precedence so that the first category wins.
        cats[unknown] = "unknown_label"
        cats[invalid] = "outside_validity"
        cats[dist <= near_m] = "near_boundary"
        cats[other_v] = "other_vintage"
        cats[renamed] = "renamed"
        cats[np.isin(st, ["outside", "gap"])] = "outside_all"
        category[sel] = cats
    return category


def compare_labels(
    joined: pd.DataFrame,
    layers: Mapping[str, Sequence[Layer]],
    labels: Mapping[str, LabelSpec | tuple[str, str]],
    *,
    near_m: float = 50.0,
    top: int = 25,
) -> list[LabelCheck]:
    """Measure agreement of the join with the source's own area labels.

    Parameters
    ----------
    joined : pandas.DataFrame
        Output of :func:`geo311.assign_areas` (with the ``raw_*`` columns).
    layers : mapping of str to sequence of Layer
        The layers the join used, all vintages.
    labels : mapping of str to LabelSpec or (str, str)
        Layer key -> its label, as a manifest declares it
        (:meth:`geo311.join.manifest.CityManifest.labels`, with any transform)
        or as (source label column, ``"id"`` or ``"name"``), e.g.
        ``{"council_districts": ("CouncilDistrict", "id")}``.  Layers whose
        label column is absent from ``joined`` are skipped.  A label that a
        transform maps to ``""`` counts as ``no_label``.
    near_m : float, default 50
        Distance that makes a mismatch ``near_boundary``.
    top : int, default 25
        How many mismatching (label, assigned) pairs to list, most frequent first.

    Returns
    -------
    list of LabelCheck

    Raises
    ------
    ValueError
        A label's match is neither ``"id"`` nor ``"name"``.
    """
    specs = _label_specs(labels)
    checks = []
    lon = joined["long"].to_numpy(dtype="float64", na_value=np.nan)
    lat = joined["lat"].to_numpy(dtype="float64", na_value=np.nan)
    for key, spec in specs.items():
        column, match, transform = spec.column, spec.match, spec.transform
        raw_label = _label_values(joined, column)
        if raw_label is None or f"{key}_join" not in joined or key not in layers:
            continue
        shown = raw_label if transform is None else transform.apply(raw_label)
        label = normalize_label(shown)
        status = joined[f"{key}_join"]
        assigned_raw = joined[f"{key}_id" if match == "id" else f"{key}_name"]
        assigned = normalize_label(assigned_raw)
        has_label = label.notna().to_numpy()
        located = status.isin(_LOCATED).to_numpy(bool)
        compared = has_label & located
        not_compared = {
            "no_label": int((~has_label).sum()),
            "label_but_not_located": int((has_label & ~located).sum()),
        }
        agree = compared & (label == assigned).fillna(False).to_numpy(bool)
        bad = np.flatnonzero(compared & ~agree)
        category = _categorise(
            joined, key, layers[key], label, bad, match=match, lon=lon, lat=lat, near_m=near_m
        )
        checks.append(
            LabelCheck(
                layer=key,
                label_column=column,
                match=match,
                compared=int(compared.sum()),
                agree=int(agree.sum()),
                not_compared=not_compared,
                categories={c: int((category == c).sum()) for c in CATEGORIES},
                top_mismatches=_ranked(
                    raw_label.to_numpy()[bad],
                    assigned_raw.to_numpy()[bad],
                    category,
                    top,
                    compared_as=None if transform is None else shown.to_numpy()[bad],
                ),
                near_m=near_m,
                transform=None if transform is None else transform.to_dict(),
            )
        )
    return checks
