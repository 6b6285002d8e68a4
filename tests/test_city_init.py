"""geo311.join.city_init: proposing a city manifest from a folder of boundary files.

The Baltimore and Los Angeles boundary files are copied into tmp_path (never
into the repo); the proposal must find the id and name fields, the district
layer and, with a sample export, the label columns that the built-in
manifests declare, and its TOML must load with the manifest loader and its
layers with load_layers.  A generated 3x3 grid covers GeoPackage, a
projected CRS, a shapefile without CRS and files that are not layers.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from geo311 import join_city, requests_from_frame
from geo311._errors import CRSError, InputFileError, OptionError
from geo311.join.city_init import CityProposal, guess_timezone, init_city
from geo311.join.layers import load_layers
from geo311.join.manifest import LabelSpec, load_manifest


def _save(proposal: CityProposal) -> Path:
    text = proposal.to_toml()
    data = tomllib.loads(text)
    assert data.get("district_layer") == proposal.district_layer
    assert tuple(data.get("site_layers", ())) == proposal.site_layers
    path = Path(proposal.manifest_path)
    path.write_text(text, encoding="utf-8")
    return path


def _copy(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for path in source.glob("*.geojson"):
        shutil.copy(path, target / path.name)
    return target


def _builtin_fields(city: str) -> dict[str, tuple[str, str]]:
    manifest = load_manifest(city)
    return {k: (s.id_field, s.name_field) for k, s in manifest.layers.items()}


def test_baltimore_folder(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _copy(shared_data / "baltimore", tmp_path / "baltimore")
    sample = shared_data / "baltimore" / "sr311_2019_oct_sample.csv"
    proposal = init_city(folder, city="baltimore", sample=sample)
    builtin = load_manifest("baltimore")
    # layer keys lose a trailing year unless two files then share it
    same_layer = {
        "census_tracts": "census_tracts",
        "council_districts": "council_districts",
        "csas": "csas",
        "zip_codes": "zip_codes",
        "neighborhoods_2010": "neighborhoods",
        "neighborhoods_2020": "neighborhoods",
        "police_districts_1959_2022": "police_districts",
        "police_districts_2023": "police_districts",
    }
    assert set(same_layer) <= set(proposal.layers)
    for key, builtin_key in same_layer.items():
        layer, spec = proposal.layers[key], builtin.layers[builtin_key]
        assert (layer.id_field, layer.name_field) == (spec.id_field, spec.name_field), key
        expected = (spec.label.column, spec.label.match) if spec.label else None
        assert layer.label == expected, key
    assert proposal.layers["council_districts"].vintage == "2012"
    assert proposal.layers["police_districts_1959_2022"].vintage == "1959_2022"
    assert proposal.layers["council_districts"].areas == 14
    assert proposal.district_layer == "council_districts"
    assert proposal.timezone == "America/New_York"
    assert "Baltimore" in proposal.timezone_note and "check it" in proposal.timezone_note
    assert (
        "NAD83 / Maryland" in proposal.projected_note and "EPSG:32618" in proposal.projected_note
    )
    assert proposal.projected_crs == builtin.projected_crs == "EPSG:26985"  # NAD83 / Maryland
    assert "city_boundary_land" not in proposal.site_layers  # one area: nothing to map
    assert any("neighborhoods_2010, neighborhoods_2020" in q for q in proposal.questions)
    assert proposal.profile is not None
    assert proposal.profile.timezone == "America/New_York"
    assert proposal.profile.mapping["service_request_id"].source == "ServiceRequestNum"

    manifest = load_manifest(_save(proposal))
    assert manifest.timezone == "America/New_York"
    assert manifest.layers["zip_codes"].vintages[0].file == "zip_codes.geojson"
    assert manifest.labels()["neighborhoods_2010"] == LabelSpec("Neighborhood", "name")
    assert manifest.district_layer == "council_districts"
    monkeypatch.setenv("GEO311_DATA_DIR", str(tmp_path))
    layers = load_layers(manifest, layers=["council_districts", "census_tracts"])
    assert len(layers["council_districts"][0].frame) == 14
    assert len(layers["census_tracts"][0].frame) == 199


def test_los_angeles_folder(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _copy(shared_data / "los_angeles" / "boundaries", tmp_path / "los_angeles")
    sample = shared_data / "los_angeles" / "records" / "myla311_2017-12-27_2017-12-31.csv.gz"
    proposal = init_city(folder, city="los_angeles", sample=sample)
    builtin = load_manifest("los_angeles")
    pairs = {
        "council_districts": "council_districts",
        "neighborhood_councils_certified": "neighborhood_councils",
    }
    assert set(proposal.layers) == set(pairs)
    for key, builtin_key in pairs.items():
        layer, spec = proposal.layers[key], builtin.layers[builtin_key]
        assert (layer.id_field, layer.name_field) == (spec.id_field, spec.name_field), key
        assert spec.label is not None
        assert layer.label == (spec.label.column, spec.label.match), key
        assert layer.label_share >= 0.95
    assert "objectid" in proposal.layers["neighborhood_councils_certified"].id_candidates
    assert proposal.district_layer == "council_districts"
    assert proposal.site_layers == tuple(pairs)
    assert proposal.timezone == "America/Los_Angeles"
    assert proposal.projected_crs == builtin.projected_crs == "EPSG:26945"  # California 5
    assert proposal.profile is not None
    assert proposal.profile.mapping["requested_datetime"].source == "CreatedDate"

    manifest = load_manifest(_save(proposal))
    monkeypatch.setenv("GEO311_DATA_DIR", str(tmp_path))
    layers = load_layers(manifest)
    assert len(layers["neighborhood_councils_certified"][0].frame) == 99
    assert len(layers["council_districts"][0].frame) == 15


def _grid(crs: str = "EPSG:26985") -> gpd.GeoDataFrame:
    """A 3x3 grid of 1 km wards in Maryland State Plane metres, near Baltimore."""
    x0, y0 = 433_000.0, 180_000.0
    cells = [box(x0 + i * 1000, y0 + j * 1000, x0 + (i + 1) * 1000, y0 + (j + 1) * 1000)
             for j in range(3) for i in range(3)]  # fmt: skip
    return gpd.GeoDataFrame(
        {
            "objectid": range(101, 110),
            "ward_no": range(1, 10),
            "ward_label": [f"Ward {i}" for i in range(1, 10)],
            "area_m2": [1_000_000.0] * 9,
            "zone": ["north"] * 9,
        },
        geometry=cells,
        crs=crs,
    )


def test_grid_geopackage_in_a_projected_crs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "gridtown"
    (folder / "layers").mkdir(parents=True)
    _grid().to_file(folder / "layers" / "wards.gpkg", driver="GPKG")
    (folder / "notes.json").write_text('{"not": "a layer"}')
    proposal = init_city(folder, city="gridtown")
    ward = proposal.layers["wards"]
    assert (ward.id_field, ward.name_field) == ("ward_no", "ward_label")
    assert ward.file == "layers/wards.gpkg"
    assert ward.crs == "EPSG:26985" and ward.crs_declared
    assert ward.vintage == "current"
    assert -76.7 < ward.bounds[0] < ward.bounds[2] < -76.5
    assert proposal.district_layer == "wards"
    assert proposal.timezone == "America/New_York"
    assert proposal.projected_crs == "EPSG:26985"  # the grid lies in Maryland
    assert any(q.startswith("notes.json: skipped") for q in proposal.questions)
    assert Path(proposal.manifest_path) == folder / "gridtown.toml"

    manifest = load_manifest(_save(proposal))
    assert manifest.layers["wards"].vintages[0].crs == "EPSG:26985"
    monkeypatch.setenv("GEO311_DATA_DIR", str(tmp_path))
    layer = load_layers(manifest)["wards"][0]
    assert sorted(layer.frame["area_id"], key=int) == [str(i) for i in range(1, 10)]
    assert layer.frame["area_name"].iloc[0].startswith("Ward ")


def test_shapefile_without_crs(tmp_path: Path) -> None:
    projected = tmp_path / "projected"
    projected.mkdir()
    _grid().to_file(projected / "wards.shp")
    (projected / "wards.prj").unlink()
    with pytest.raises(CRSError, match=r"wards\.shp: declares no CRS .* not longitudes/latitudes"):
        init_city(projected, city="gridtown")

    lonlat = tmp_path / "lonlat"
    lonlat.mkdir()
    _grid().to_crs(4326).to_file(lonlat / "wards.shp")
    (lonlat / "wards.prj").unlink()
    proposal = init_city(lonlat, city="gridtown")
    assert proposal.layers["wards"].crs == "EPSG:4326"
    assert not proposal.layers["wards"].crs_declared
    assert any("EPSG:4326 was assumed" in q for q in proposal.questions)
    # the manifest sits beside its files, which it finds there whatever the folder's name
    assert not any("rename" in q for q in proposal.questions)


def test_no_district_layer_and_far_from_the_table(tmp_path: Path) -> None:
    folder = tmp_path / "faraway"
    folder.mkdir()
    grid = _grid().to_crs(4326)
    grid = grid.set_geometry(grid.geometry.translate(xoff=80.0))  # lon about 3.4: Europe
    grid[["objectid", "zone"]].set_geometry(grid.geometry).to_file(folder / "zones.geojson")
    proposal = init_city(folder, city="faraway")
    # objectid is the only unique field: used as id and name
    assert proposal.layers["zones"].id_field == "objectid"
    assert proposal.district_layer is None
    assert proposal.timezone == "UTC"
    # no State Plane outside the US table: the UTM zone of the layers (31N, around 3.4 E)
    assert proposal.projected_crs == "EPSG:32631"
    assert proposal.projected_note.startswith("The UTM zone")
    asked = " ".join(proposal.questions)
    assert "district_layer:" in asked and "timezone:" in asked
    manifest = load_manifest(_save(proposal))
    assert manifest.timezone == "UTC"


def test_guess_timezone_table() -> None:
    assert guess_timezone(-87.65, 41.85)[0] == "America/Chicago"
    assert guess_timezone(-104.9, 39.7)[0] == "America/Denver"
    assert guess_timezone(-112.0, 33.5)[0] == "America/Phoenix"
    assert guess_timezone(-157.8, 21.3)[0] == "Pacific/Honolulu"
    zone, note = guess_timezone(2.35, 48.86)
    assert zone is None and "set the city's IANA zone" in note


def test_user_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such folder"):
        init_city(tmp_path / "missing", city="x")
    with pytest.raises(OptionError, match="snake_case"):
        init_city(tmp_path, city="Kansas City")
    points = gpd.GeoDataFrame(
        {"id": [1, 2]}, geometry=gpd.points_from_xy([0, 1], [0, 1]), crs=4326
    )
    points.to_file(tmp_path / "points.geojson")
    with pytest.raises(InputFileError, match=r"no polygon layer .*points\.geojson: skipped"):
        init_city(tmp_path, city="x")


def test_layer_keys_stay_unique(tmp_path: Path) -> None:
    folder = tmp_path / "twice"
    (folder / "old").mkdir(parents=True)
    _grid().to_file(folder / "wards.gpkg", driver="GPKG")
    _grid().to_file(folder / "wards.shp")
    _grid().to_file(folder / "old" / "wards_2002.geojson")
    proposal = init_city(folder, city="twice")
    # all three would be "wards": each is keyed by its path instead
    assert sorted(proposal.layers) == ["old_wards_2002", "wards_gpkg", "wards_shp"]
    assert proposal.layers["old_wards_2002"].file == "old/wards_2002.geojson"
    assert proposal.layers["old_wards_2002"].vintage == "2002"
    load_manifest(_save(proposal))


def test_labels_with_a_prefix_get_a_transform(tmp_path: Path) -> None:
    # The export labels wards "Ward 3" / "WARD 03", the boundary file's id is 3.
    folder = tmp_path / "wardtown"
    folder.mkdir()
    grid = _grid().to_crs(4326)[["ward_no", "zone", "geometry"]]
    grid.to_file(folder / "wards.geojson")
    centres = _grid().centroid.to_crs(4326)
    rows = [
        {
            "service_request_id": f"R-{k}",
            "requested_datetime": "2024-05-01T09:30:00-04:00",
            "lat": round(centres.y.iloc[k % 9], 6),
            "long": round(centres.x.iloc[k % 9], 6),
            "Ward": f"Ward {k % 9 + 1}" if k % 2 else f"WARD {k % 9 + 1:02d}",
        }
        for k in range(36)
    ]
    sample = tmp_path / "export.csv"
    pd.DataFrame(rows).to_csv(sample, index=False)
    proposal = init_city(folder, city="wardtown", sample=sample)
    wards = proposal.layers["wards"]
    assert (wards.label, wards.label_prefix, wards.label_share) == (("Ward", "id"), "ward", 1.0)
    assert 'transform = { strip_prefix = "ward" }' in proposal.to_toml()
    manifest = _save(proposal)
    requests, _ = requests_from_frame(
        pd.DataFrame(rows), schema="open311", as_of="2025-01-01", keep_raw=True
    )
    (check,) = join_city(requests, city=manifest, qa=True).checks
    assert (check.compared, check.agreement) == (36, 1.0)
