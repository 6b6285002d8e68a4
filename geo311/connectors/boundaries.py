"""Download a city's ArcGIS-served boundary layers into the boundary cache, as GeoJSON.

:func:`fetch_boundaries` reads the city manifest, fetches every vintage whose
``source`` is an ArcGIS REST layer with :func:`geo311.connectors.arcgis.fetch_arcgis`
(paged, resumable, totals checked) and converts it to GeoJSON in the folder
the boundary loader searches (``<cache>/boundaries/<city>/``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from geo311 import settings
from geo311._errors import FetchError, OutputExistsError
from geo311.connectors._client import HttpClient, write_provenance
from geo311.connectors._paging import FetchResult, ProgressCallback
from geo311.connectors.arcgis import fetch_arcgis
from geo311.io.atomic import atomic_write

__all__ = ["fetch_boundaries"]

log = logging.getLogger(__name__)

#: An ArcGIS REST layer: ``.../FeatureServer/<n>`` or ``.../MapServer/<n>``.
_ARCGIS_LAYER = re.compile(r"^https?://\S+/(FeatureServer|MapServer)/\d+/?$", re.IGNORECASE)


def fetch_boundaries(
    city: str | Path,
    *,
    layers: Sequence[str] | None = None,
    vintages: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    client: HttpClient | None = None,
    cache: bool = True,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
) -> list[FetchResult]:
    """Download a city's ArcGIS-served boundary layers into the boundary cache, as GeoJSON.

    Every vintage of the chosen layers whose manifest ``source`` is an ArcGIS
    REST layer (``.../FeatureServer/<n>`` or ``.../MapServer/<n>``) is fetched
    with :func:`fetch_arcgis` (resumable, paged) in EPSG:4326 and converted to
    GeoJSON named as the manifest's ``file`` or, for a vintage declared
    without one, ``<layer>_<vintage>.geojson``
    (:func:`geo311.join.files.fetched_file_name`).  There
    :func:`geo311.load_layers` finds it.  Vintages whose source is not an
    ArcGIS layer (a download page, a TIGER/Line ZIP) are skipped with a log
    line naming the source.

    Parameters
    ----------
    city : str or pathlib.Path
        Built-in city key or a manifest path.
    layers : sequence of str, optional
        Layer keys (default: every layer with an ArcGIS source).
    vintages : sequence of str, optional
        Only these vintages.
    out_dir : path, optional
        Where to write; default ``<cache>/boundaries/<city>/``.
    overwrite : bool, default False
        Replace files fetched before.
    client, cache, refresh, progress
        As in :func:`fetch_arcgis`.

    Returns
    -------
    list of FetchResult
        One per file written, each with its ``.provenance.json`` sidecar.

    Raises
    ------
    ManifestError
        Unknown city or layer (listing the valid ones).
    FetchError
        A layer that cannot be downloaded, or none of the chosen layers has
        an ArcGIS source.
    OutputExistsError
        A file exists and ``overwrite`` is False.
    """
    import geopandas as gpd  # noqa: PLC0415 - keep the connectors importable without it

    from geo311.join.files import fetched_file_name  # noqa: PLC0415
    from geo311.join.manifest import load_manifest  # noqa: PLC0415

    manifest = load_manifest(city)
    keys = list(layers) if layers else list(manifest.layers)
    for key in keys:
        manifest.layer(key)  # raises for an unknown layer, listing the valid ones
    folder = (
        Path(out_dir)
        if out_dir is not None
        else settings.cache_dir() / "boundaries" / manifest.city
    )
    chosen = [
        (key, spec)
        for key in keys
        for spec in manifest.layers[key].vintages
        if vintages is None or spec.vintage in vintages
    ]
    served = [(k, v) for k, v in chosen if _ARCGIS_LAYER.match(v.source.strip())]
    for key, spec in chosen:
        if (key, spec) not in served:
            log.info("%s %s: not served by ArcGIS (%s); skipped", key, spec.vintage, spec.source)
    if not served:
        msg = (
            f"none of the chosen {manifest.city} layers/vintages ({', '.join(keys)}) is served "
            "by an ArcGIS layer; download them from the sources in the manifest "
            f"(`geo311 schemas` lists profiles; boundaries/{manifest.city}.toml lists sources)"
        )
        raise FetchError(msg)
    targets = [folder / (v.file or fetched_file_name(k, v.vintage)) for k, v in served]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        msg = f"already fetched: {', '.join(existing)}; pass --overwrite (overwrite=True)"
        raise OutputExistsError(msg)
    results = []
    for (key, spec), target in zip(served, targets, strict=True):
        raw = target.with_name(f"{target.stem}.esri.json")
        fetched = fetch_arcgis(
            spec.source.strip(),
            raw,
            overwrite=True,
            client=client,
            cache=cache,
            refresh=refresh,
            progress=progress,
        )
        try:
            frame = gpd.read_file(f"ESRIJSON:{raw}")
        except Exception as exc:
            msg = f"{spec.source}: the downloaded layer {raw} is not readable ESRI JSON ({exc})"
            raise FetchError(msg) from exc
        if frame.crs is None:
            frame = frame.set_crs("EPSG:4326")
        with atomic_write(target) as tmp:
            frame.to_crs("EPSG:4326").to_file(tmp, driver="GeoJSON")
        wanted = {manifest.layers[key].id_field, manifest.layers[key].name_field} - {None}
        absent = sorted(str(f) for f in wanted if f not in frame.columns)
        if absent:
            log.warning(
                "%s %s: the service has no field(s) %s that the manifest names; its fields are "
                "%s. Point id_field/name_field in the manifest at them before joining.",
                key,
                spec.vintage,
                absent,
                [c for c in frame.columns if c != "geometry"],
            )
        sidecar = write_provenance(
            target,
            source_url=spec.source.strip(),
            params={"where": "1=1", "outSR": 4326},
            rows=len(frame),
            extra={
                "connector": "arcgis-boundaries",
                "city": manifest.city,
                "layer": key,
                "vintage": spec.vintage,
                "pages": fetched.pages,
            },
        )
        for leftover in (raw, fetched.provenance):
            leftover.unlink(missing_ok=True)
        results.append(
            FetchResult(
                target, len(frame), fetched.pages, fetched.seconds, fetched.resumed_pages, sidecar
            )
        )
        log.info("%s %s: %d features -> %s", key, spec.vintage, len(frame), target)
    return results
