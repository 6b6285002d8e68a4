"""Coverage of time patterns (issue 13 item 5): uncovered weekdays marked, figures per
covered day, partial months flagged.  Dates are local (America/New_York)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from geo311.indicators import COVERAGE_FLAGS, PATTERN_COLUMNS, time_patterns

TZ = "America/New_York"


def _requests(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """(input_file, local creation time) per request, all in ward A, all open."""
    created = pd.to_datetime([t for _, t in rows]).tz_localize(TZ).tz_convert("UTC")
    frame = pd.DataFrame(
        {
            "input_file": pd.array([f for f, _ in rows], dtype="string"),
            "requested_datetime": pd.Series(created, dtype="datetime64[ns, UTC]"),
            "closed_datetime": pd.Series(
                pd.NaT, index=range(len(rows)), dtype="datetime64[ns, UTC]"
            ),
            "status": "open",
            "is_duplicate": False,
            "is_transfer": False,
            "is_proactive": False,
            "ward_id": "A",
        }
    )
    frame.attrs["timezone"] = TZ
    return frame


# Friday 2025-03-07 .. Monday 2025-03-10: Fri 2, Sat 1, Sun 0, Mon 3 requests
_WEEKEND = [
    ("a.csv", "2025-03-07 09:00"),
    ("a.csv", "2025-03-07 23:30"),
    ("a.csv", "2025-03-08 12:00"),
    ("a.csv", "2025-03-10 08:00"),
    ("a.csv", "2025-03-10 09:00"),
    ("a.csv", "2025-03-10 17:00"),
]


def _weekdays(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["pattern"] == "day_of_week"].set_index("bucket")


def test_uncovered_weekdays_are_marked_and_counts_are_per_covered_day() -> None:
    p = time_patterns(_requests(_WEEKEND), key="ward")
    assert list(p.columns) == list(PATTERN_COLUMNS)
    days = _weekdays(p)
    assert days["covered_days"].tolist() == [1, 0, 0, 0, 1, 1, 1]
    assert days["coverage"].tolist() == [
        "covered", "not covered", "not covered", "not covered", "covered", "covered", "covered",
    ]  # fmt: skip
    # Monday 3 requests on 1 covered Monday; Sunday is a real zero (covered), Tuesday is not
    assert days.loc["Monday", "requests_per_covered_day"] == 3.0
    assert days.loc["Friday", "requests_per_covered_day"] == 2.0
    assert days.loc["Sunday", "requests_per_covered_day"] == 0.0
    assert math.isnan(days.loc["Tuesday", "requests_per_covered_day"])
    hours = p[p["pattern"] == "hour"]
    assert (hours["covered_days"] == 4).all()
    assert hours.set_index("bucket").loc["09", "requests_per_covered_day"] == pytest.approx(2 / 4)
    assert p.attrs["geo311"]["covered_days"] == 4
    months = p[p["pattern"] == "month"]
    assert months["coverage"].tolist() == ["partial (4 of 31 days)"]
    assert "not covered" in COVERAGE_FLAGS


def test_two_files_cover_the_union_of_their_date_ranges() -> None:
    # b.csv: Thursday 2025-03-20 .. Friday 2025-03-21 -> two Fridays and one Thursday covered
    rows = [*_WEEKEND, ("b.csv", "2025-03-20 10:00"), ("b.csv", "2025-03-21 10:00")]
    days = _weekdays(time_patterns(_requests(rows), key="ward"))
    assert days["covered_days"].tolist() == [1, 0, 0, 1, 2, 1, 1]
    assert days.loc["Friday", "requests"] == 3
    assert days.loc["Friday", "requests_per_covered_day"] == 1.5
    # the gap between the files (Tue 11 .. Wed 19) is not covered
    assert days.loc["Tuesday", "coverage"] == "not covered"


def test_partial_months_are_flagged() -> None:
    # 2025-01-20 .. 2025-02-07: January 12 of 31 days, February 7 of 28 days
    rows = [("a.csv", "2025-01-20 10:00"), ("a.csv", "2025-01-25 10:00"),
            ("a.csv", "2025-02-07 10:00")]  # fmt: skip
    p = time_patterns(_requests(rows), key="ward")
    months = p[p["pattern"] == "month"].set_index("bucket")
    assert months.index.tolist() == ["2025-01-01", "2025-02-01"]
    assert months["covered_days"].tolist() == [12, 7]
    assert months["coverage"].tolist() == ["partial (12 of 31 days)", "partial (7 of 28 days)"]
    assert months.loc["2025-01-01", "requests_per_covered_day"] == pytest.approx(2 / 12)
    assert months.loc["2025-02-01", "requests_per_covered_day"] == pytest.approx(1 / 7)


def test_full_months_are_covered_and_the_period_clips_coverage() -> None:
    rows = [("a.csv", "2025-01-01 00:30"), ("a.csv", "2025-02-28 23:00")]
    months = time_patterns(_requests(rows), key="ward")
    months = months[months["pattern"] == "month"]
    assert months["coverage"].tolist() == ["covered", "covered"]
    assert months["covered_days"].tolist() == [31, 28]
    # period [Jan 25, Feb 1): 7 covered days of January; the February bucket is outside
    clipped = time_patterns(_requests(rows), key="ward", period=("2025-01-25", "2025-02-01"))
    clipped = clipped[clipped["pattern"] == "month"]
    assert clipped["bucket"].tolist() == ["2025-01-01"]
    assert clipped["coverage"].tolist() == ["partial (7 of 31 days)"]


def _joined(shared_data: Path, city: str, files: list[Path]) -> pd.DataFrame:
    from geo311 import read_requests  # noqa: PLC0415
    from geo311.pipeline import join_city  # noqa: PLC0415

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_DATA_DIR", str(shared_data))
        requests, _ = read_requests(files, schema=city)
        return join_city(requests, city=city, layers=["council_districts"]).frame


def test_baltimore_october_sample_covers_friday_to_monday(shared_data: Path) -> None:
    joined = _joined(shared_data, "baltimore", [shared_data / "baltimore" /
                                                "sr311_2019_oct_sample.csv"])  # fmt: skip
    days = _weekdays(time_patterns(joined, key="council_districts", city=True))
    # 2019-10-18 15:25 to 2019-10-21 11:49 local: Friday, Saturday, Sunday, Monday
    assert days.loc[["Tuesday", "Wednesday", "Thursday"], "coverage"].eq("not covered").all()
    assert days.loc[["Friday", "Saturday", "Sunday", "Monday"], "covered_days"].eq(1).all()
    assert days.loc["Monday", "requests_per_covered_day"] == days.loc["Monday", "requests"]


def test_los_angeles_files_cover_their_own_dates(shared_data: Path) -> None:
    records = shared_data / "los_angeles" / "records"
    joined = _joined(shared_data, "los_angeles", [records / "myla311_2020-01-01_2020-01-03.csv.gz",
                                                  records / "myla311_2018-01-01_2018-01-04.csv.gz"])  # fmt: skip
    p = time_patterns(joined, key="council_districts", city=True)
    days = _weekdays(p)
    # 2020-01-01 (Wed) .. 01-03 (Fri) and 2018-01-01 (Mon) .. 01-04 (Thu): no weekend
    assert days.loc[["Saturday", "Sunday"], "coverage"].eq("not covered").all()
    assert days["covered_days"].tolist() == [1, 1, 2, 2, 1, 0, 0]
    months = p[p["pattern"] == "month"].set_index("bucket")
    assert months.loc["2018-01-01", "coverage"] == "partial (4 of 31 days)"
    assert months.loc["2019-06-01", "coverage"] == "not covered"
    assert months.loc["2020-01-01", "coverage"] == "partial (3 of 31 days)"
