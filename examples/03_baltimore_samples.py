"""Ingest the two real Open Baltimore samples together and look at the ledger.

Needs the reference data: set GEO311_DATA_DIR to the folder holding
``baltimore/`` (in this repository's CI it is ../shared/data).
Run: GEO311_DATA_DIR=../shared/data python examples/03_baltimore_samples.py
"""

import sys

import geo311
from geo311.settings import data_dir

root = data_dir()
if root is None or not (root / "baltimore").is_dir():
    sys.exit("set GEO311_DATA_DIR to the folder that holds baltimore/")

files = [
    root / "baltimore" / "sr311_2019_oct_sample.csv",
    root / "baltimore" / "sr311_2018_sample.csv",
]
result = geo311.run(files, stop_after="ingest")
requests = result.requests
print(result.ledger.summary())

counted = requests[~requests["is_duplicate"] & ~requests["is_transfer"]]
print(
    f"\n{len(counted):,} requests count toward demand "
    f"({int(requests['is_duplicate'].sum())} duplicates, "
    f"{int(requests['is_transfer'].sum())} transfers excluded)"
)
print(counted["service_name"].value_counts().head(5).to_string())
