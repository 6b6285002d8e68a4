"""Ingest a 311 export and read its row ledger (the pipeline's first stage only).

Uses the synthetic demo city's raw export (Open311 GeoReport Bulk CSV) so it
runs anywhere.  Run: python examples/01_ingest.py
"""

import tempfile
from pathlib import Path

import geo311
from geo311.demo import make_demo_city

city = make_demo_city(n_requests=5_000)

with tempfile.TemporaryDirectory() as tmp:
    export = Path(tmp, "requests.csv")
    city.requests.to_csv(export, index=False)
    result = geo311.run(
        export, schema="open311", timezone=city.timezone, as_of=city.as_of, stop_after="ingest"
    )
requests, ledger = result.requests, result.ledger

print(ledger.summary())
print(requests["coord_quality"].value_counts().to_string())
print(requests.groupby("service_name")["status"].value_counts().unstack().head(8))
