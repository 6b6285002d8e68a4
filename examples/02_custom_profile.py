"""Read a city export geo311 has never seen, described only by a TOML profile.

"Riverton" is made up: semicolon-free CSV with its own column names, day-first
local timestamps, its own status words and one location column "(lat, lon)".
Run: python examples/02_custom_profile.py
"""

import tempfile
from pathlib import Path

import geo311

PROFILE = """
name = "riverton"
title = "Riverton 311 (made-up example)"
timezone = "America/Denver"
detect = ["Ticket", "Opened"]
bbox = [-105.10, 39.60, -104.80, 39.80]

[columns]
service_request_id = "Ticket"
requested_datetime = "Opened"
closed_datetime = "Done"
service_name = "Issue"
status_raw = "State"

[timestamps]
formats = ["%d.%m.%Y %H:%M"]

[coordinates]
location = "Where"

[status]
open = ["waiting", "assigned"]
closed = ["done"]
"""

EXPORT = """Ticket,Opened,Done,Issue,State,Where
R-1,21.10.2019 11:49,22.10.2019 08:00,Pothole,Done,"(39.703312, -104.951876)"
R-2,03.11.2019 01:30,,Streetlight,Assigned,"(39.712705, -104.903358)"
R-3,04.11.2019 09:15,,Graffiti,Waiting,
"""

with tempfile.TemporaryDirectory() as tmp:
    profile = Path(tmp, "riverton.toml")
    profile.write_text(PROFILE, encoding="utf-8")
    export = Path(tmp, "riverton.csv")
    export.write_text(EXPORT, encoding="utf-8")
    result = geo311.run(export, schema=profile, as_of="2019-12-01", stop_after="ingest")
requests, ledger = result.requests, result.ledger

print(requests[["service_request_id", "requested_datetime", "status", "lat", "long"]])
print(requests[["service_request_id", "coord_quality", "qa_flags"]])
print(ledger.summary())
