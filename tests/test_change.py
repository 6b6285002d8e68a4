"""Change vs the previous period (geo311.indicators.change), checked by hand on typed rows.

Two wards, A (1,000 residents) and B (500); the run's period is the week of
8-14 March 2025 (UTC), so the previous period is 1-7 March.  Every request
is closed before the as-of time, so medians are plain order statistics.
"""

from __future__ import annotations

import pandas as pd
import pytest

from geo311.indicators.area import area_indicators
from geo311.indicators.change import covered_days, period_change, previous_period

DAY = pd.Timedelta(days=1)
OPTIONS = {
    "key": "ward",
    "population": pd.Series({"A": 1000.0, "B": 500.0}),
    "as_of": "2025-03-20",
}
PERIOD = ("2025-03-08", "2025-03-15")


def _row(ward: str, created: str, days: float, due: float, **extra: object) -> dict:
    start = pd.Timestamp(created, tz="UTC")
    return {
        "service_request_id": f"{ward}{created}{days}",
        "service_name": "Pothole",
        "requested_datetime": start,
        "closed_datetime": start + days * DAY,
        "expected_datetime": start + due * DAY,
        "status": "closed",
        "source": "phone",
        "is_duplicate": False,
        "is_transfer": False,
        "is_proactive": False,
        "ward_id": ward,
        "ward_name": f"Ward {ward}",
        **extra,
    }


def _requests(*, gap: bool = False) -> pd.DataFrame:
    """old.csv holds 1-7 March (1-6 with ``gap``), new.csv 8-14 March."""
    last_old = "2025-03-06 09:00" if gap else "2025-03-07 09:00"
    old = [  # A: closed after 1, 2 and 5 days, due after 2 -> median 2, on time 2 of 3
        _row("A", "2025-03-01 10:00", 1, 2),
        _row("A", "2025-03-03 10:00", 2, 2),
        _row("A", last_old, 5, 2),
        _row("A", "2025-03-04 10:00", 1, 2, is_duplicate=True),  # set aside, both periods
        _row("B", "2025-03-02 10:00", 2, 3),
    ]
    new = [  # A: closed after 1, 1, 3, 4, 4 days, due after 3 -> median 3, on time 3 of 5
        *(_row("A", f"2025-03-{d:02d} 10:00", x, 3) for d, x in ((8, 1), (9, 1), (10, 3))),
        *(_row("A", f"2025-03-{d:02d} 10:00", 4, 3) for d in (11, 12)),
        _row("B", "2025-03-13 10:00", 1, 3),
        _row("B", "2025-03-14 10:00", 1, 3),
    ]
    frame = pd.DataFrame([*old, *new])
    frame["input_file"] = ["old.csv"] * len(old) + ["new.csv"] * len(new)
    for column in ("service_request_id", "service_name", "status", "source", "ward_id"):
        frame[column] = frame[column].astype("string")
    frame.attrs["timezone"] = "UTC"
    return frame


def test_previous_period_by_hand() -> None:
    requests = _requests()
    before = previous_period(requests, period=PERIOD, **OPTIONS)
    assert before.covered, before.reason
    assert (before.start, before.end) == (
        pd.Timestamp("2025-03-01", tz="UTC"),
        pd.Timestamp("2025-03-08", tz="UTC"),
    )
    assert before.days == 7
    prev = before.table
    assert list(prev.index) == ["A", "B", "city"]
    # requests: A 3 (the duplicate is set aside), B 1, city 4
    assert prev["requests"].tolist() == [3, 1, 4]
    # per 1,000 residents: 3/1000, 1/500, 4/1500
    assert prev["rate_per_1k"].tolist() == pytest.approx([3.0, 2.0, 4 / 1.5])
    assert prev.at["A", "ttc_median_days"] == pytest.approx(2.0)
    assert prev.at["A", "on_time_share"] == pytest.approx(2 / 3)
    # the previous table is what the indicators say of the previous week on its own
    alone = area_indicators(requests, period=("2025-03-01", "2025-03-08"), **OPTIONS)
    assert prev.loc[["A", "B"], "requests"].tolist() == alone["requests"].tolist()

    now = area_indicators(requests, period=PERIOD, **OPTIONS)
    change = period_change(now, prev)
    a = change.loc["A"]
    assert (a["requests_previous"], a["requests_change"], a["requests_change_pct"]) == (
        3,
        2,
        pytest.approx(200 / 3),
    )  # 5 vs 3
    assert a["ttc_median_days_change"] == pytest.approx(1.0)  # 3 vs 2 days
    assert a["ttc_median_days_change_pct"] == pytest.approx(50.0)
    assert a["on_time_share_change"] == pytest.approx(0.6 - 2 / 3)  # 3/5 vs 2/3
    assert a["on_time_share_change_pct"] == pytest.approx(-10.0)
    assert change.at["B", "rate_per_1k_change"] == pytest.approx(2.0)  # 2/500 vs 1/500


def test_no_previous_period_when_the_data_do_not_cover_it() -> None:
    requests = _requests()
    # a day missing between the files: 7 March is not covered
    gap = _requests(gap=True)
    assert covered_days(gap, timezone="UTC") == [
        (pd.Timestamp("2025-03-01").date(), pd.Timestamp("2025-03-06").date()),
        (pd.Timestamp("2025-03-08").date(), pd.Timestamp("2025-03-14").date()),
    ]
    missing = previous_period(gap, period=PERIOD, **OPTIONS)
    assert not missing.covered
    assert missing.table.empty
    assert "1 Mar 2025 to 7 Mar 2025" in missing.reason
    assert "1 Mar 2025 to 6 Mar 2025; 8 Mar 2025 to 14 Mar 2025" in missing.reason
    # a longer period reaches back before the first request
    early = previous_period(requests, period=("2025-03-05", "2025-03-15"), **OPTIONS)
    assert not early.covered
    assert "23 Feb 2025" in early.reason
    assert early.metadata()["days"] == 10
    # no period: every request is in the run, nothing before it
    whole = previous_period(requests, period=None, **OPTIONS)
    assert not whole.covered
    assert "every request" in whole.reason
    # an open end stands for the as-of time: 8 -> 20 March, 12 days back to 24 Feb
    open_end = previous_period(requests, period=("2025-03-08", None), **OPTIONS)
    assert open_end.start == pd.Timestamp("2025-02-24", tz="UTC")
    assert not open_end.covered
