"""From the real Baltimore samples to an offline choropleth page and a PNG, in Python.

Runs the pipeline (:func:`geo311.run`: ingest, join to the 2010
neighbourhoods and the council districts, indicators) on the two Open
Baltimore samples in memory, simplifies the outlines for
display and draws two switchable indicator layers with the districts on top.
Writes ``rates.html`` (one self-contained file: open it in a browser, no
network needed) and ``rates.png`` in the current folder.

Needs the reference data (GEO311_DATA_DIR, in CI ../shared/data) and the
``maps`` extra.  Run: GEO311_DATA_DIR=../shared/data python examples/04_maps.py
"""

import sys

import geo311
from geo311.settings import data_dir

root = data_dir()
if root is None or not (root / "baltimore").is_dir():
    sys.exit("set GEO311_DATA_DIR to the folder that holds baltimore/")

files = [root / "baltimore" / f for f in ("sr311_2019_oct_sample.csv", "sr311_2018_sample.csv")]
result = geo311.run(files, city="baltimore", layers=["neighborhoods", "council_districts"])
tables = result.tables

hoods = tables["neighborhoods"]
areas = hoods.areas.merge(hoods.indicators.drop(columns="area_name"), on="area_id")
shown = geo311.simplify_for_display(areas)
districts = geo311.simplify_for_display(tables["council_districts"].areas).gdf
print(
    f"{len(areas)} neighbourhoods: {shown.vertices_before:,} -> {shown.vertices_after:,} "
    f"vertices, boundaries moved at most {shown.max_displacement_m:.1f} m"
)

source = "Census 2020 (interpolated from tracts)"
m = geo311.choropleth(
    shown.gdf, "rate_per_1k", scheme="fisher_jenks", population_source=source, outlines=districts
)
m = geo311.choropleth(shown.gdf, "ttc_median_days", m=m, show=False)
page = geo311.save_map(m, "rates.html", title="Baltimore 311 requests per 1,000 residents")
png = geo311.static_map(shown.gdf, "rate_per_1k", "rates.png", population_source=source)
print(f"wrote {page} ({page.stat().st_size / 1e6:.2f} MB, offline) and {png}")
