"""The indicator catalogue (geo311.catalogue): one entry per column, consistent with the code."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pandas as pd
import pytest
from conftest import shared_data_dir

from geo311._errors import OptionError
from geo311.catalogue import (
    CATALOGUE,
    CATEGORY_COLUMNS,
    DATA_DICTIONARY,
    FLAG_VALUES,
    HEADLINES,
    HORIZONS_DAYS,
    INTEGER_COLUMNS,
    MAPPED,
    MIN_COUNT,
    MIN_POPULATION,
    TABLE_COLUMNS,
    data_dictionary,
    headline_indicators,
    indicator,
    mapped_indicators,
)
from geo311.indicators import area_indicators, city_indicators

T0 = pd.Timestamp("2025-03-03 14:00", tz="UTC")
DAY = pd.Timedelta(days=1)


@pytest.fixture
def requests() -> pd.DataFrame:
    """Two wards: A with a closed, an open and an overdue request; B with one closed request."""
    return pd.DataFrame(
        {
            "service_name": ["Pothole", "Pothole", "Rats", "Rats"],
            "requested_datetime": [T0, T0, T0 + DAY, T0],
            "closed_datetime": [T0 + 2 * DAY, pd.NaT, pd.NaT, T0 + DAY],
            "expected_datetime": [T0 + 3 * DAY, T0 + 9 * DAY, T0 + 2 * DAY, T0 + DAY],
            "status": ["closed", "open", "open", "closed"],
            "is_duplicate": False,
            "is_transfer": False,
            "is_proactive": False,
            "ward_id": ["A", "A", "A", "B"],
            "ward_name": ["Ward A", "Ward A", "Ward A", "Ward B"],
        }
    )


@pytest.fixture
def table(requests: pd.DataFrame) -> pd.DataFrame:
    return area_indicators(
        requests,
        key="ward",
        as_of=T0 + 5 * DAY,
        population=pd.Series({"A": 1500.0, "B": 900.0}),
        min_count=1,
    )


def test_every_table_column_has_one_entry_in_table_order(
    requests: pd.DataFrame, table: pd.DataFrame
) -> None:
    assert list(CATALOGUE) == ["area_id", *table.columns]
    assert tuple(table.columns) == TABLE_COLUMNS
    assert table.index.name == "area_id"
    assert all(name == spec.name for name, spec in CATALOGUE.items())
    city = city_indicators(requests, key="ward", as_of=T0 + 5 * DAY)
    assert tuple(city.columns) == TABLE_COLUMNS


def test_ci_columns_exist_and_bracket_the_value(table: pd.DataFrame) -> None:
    with_ci = [spec for spec in CATALOGUE.values() if spec.ci is not None]
    assert {s.name for s in with_ci} == {
        "rate_per_1k",
        "rate_ratio",
        "ttc_median_days",
        *(f"closed_within_{h}d_share" for h in HORIZONS_DAYS),
        "ttc_type_adjusted_ratio",
        "on_time_share",
    }
    for spec in with_ci:
        assert spec.ci is not None
        low, high = spec.ci
        assert low in CATALOGUE and high in CATALOGUE, spec.name
        assert low in table.columns and high in table.columns, spec.name
        assert CATALOGUE[low].unit == CATALOGUE[high].unit == spec.unit
        values = table[[low, spec.name, high]].to_numpy(dtype=float)
        both = ~np.isnan(values).any(axis=1)
        assert (values[both, 0] <= values[both, 1]).all(), spec.name
        assert (values[both, 1] <= values[both, 2]).all(), spec.name


def test_integer_columns_are_the_int64_columns(table: pd.DataFrame) -> None:
    ints = {c for c in table.columns if table[c].dtype == np.int64}
    assert ints == set(INTEGER_COLUMNS)
    assert all(CATALOGUE[c].fmt == "count" for c in INTEGER_COLUMNS)


def test_formats_and_directions_follow_the_units() -> None:
    for spec in CATALOGUE.values():
        assert spec.direction in ("higher is worse", "higher is better", "neutral")
        assert (spec.fmt == "percent") == (spec.unit == "share (0-1)"), spec.name
        assert (spec.fmt == "days") == (spec.unit == "days"), spec.name
        assert spec.label and spec.label[0].isupper(), spec.name
    assert CATALOGUE["ttc_median_days"].direction == "higher is worse"
    assert CATALOGUE["on_time_share"].direction == "higher is better"
    assert CATALOGUE["ttc_type_adjusted_ratio"].direction == "higher is better"
    assert CATALOGUE["rate_per_1k"].direction == "neutral"
    assert CATALOGUE["area_name"].fmt == "text"
    assert CATALOGUE["rate_flag"].fmt == "category"


def test_metrics_sections_exist() -> None:
    path = shared_data_dir().parent / "METRICS.md"
    if not path.is_file():
        pytest.skip(f"METRICS.md not found at {path}; set GEO311_DATA_DIR")
    headings = set(re.findall(r"^## (.+?)\s*$", path.read_text(encoding="utf-8"), re.M))
    sections = {spec.section for spec in CATALOGUE.values()}
    assert None in sections  # area_id, area_name: no METRICS section
    missing = {s for s in sections if s is not None} - headings
    assert not missing, f"sections not in METRICS.md: {missing}"
    for spec in CATALOGUE.values():
        assert spec.reference.startswith("METRICS.md") == (spec.section is not None), spec.name


def test_headlines_have_everything_a_page_needs() -> None:
    heads = headline_indicators()
    assert tuple(h.name for h in heads) == HEADLINES
    shorts = [h.headline.short for h in heads if h.headline is not None]
    assert len(shorts) == len(heads) == len(set(shorts))
    for spec in heads:
        h = spec.headline
        assert h is not None and spec.ci is not None and spec.map is not None, spec.name
        assert h.slug == spec.name
        assert h.count in CATALOGUE and CATALOGUE[h.count].integer
        assert {"rate": "rate", "days": "days", "share": "percent", "ratio": "ratio"}[
            h.kind
        ] == spec.fmt
        for sentence in h.read:
            assert sentence.format(min_count=MIN_COUNT, min_population=MIN_POPULATION)
    assert all(s.headline is None for s in CATALOGUE.values() if s.name not in HEADLINES)


def test_mapped_indicators_and_small_number_rules() -> None:
    mapped = mapped_indicators()
    assert tuple(s.name for s in mapped) == MAPPED
    assert all(s.map is not None for s in mapped)
    assert all(s.map is None for s in CATALOGUE.values() if s.name not in MAPPED)
    for spec in CATALOGUE.values():
        rule = spec.small_number
        if rule is None:
            continue
        assert rule.count is None or CATALOGUE[rule.count].integer, spec.name
        assert (rule.count is None) == (rule.count_label is None), spec.name
        assert rule.flag is None or rule.flag in CATALOGUE, spec.name
    rate = CATALOGUE["rate_per_1k"].small_number
    assert rate is not None
    assert (rate.flag, rate.min_population, rate.min_count) == ("rate_flag", 100, 20)
    assert CATALOGUE["rate_per_1k"].map is not None
    assert CATALOGUE["rate_per_1k"].map.uses_population


def test_thresholds_match_the_function_defaults() -> None:
    for func in (area_indicators, city_indicators):
        params = inspect.signature(func).parameters
        assert params["min_count"].default == MIN_COUNT
        assert params["min_population"].default == MIN_POPULATION


def test_data_dictionary_reads_the_catalogue() -> None:
    table = data_dictionary()
    assert table["name"].tolist() == list(CATALOGUE)
    # issue 13: a fifth column spells out the values of every flag column
    assert table.columns.tolist() == ["name", "meaning", "unit", "reference", "values"]
    flags = table.set_index("name")["values"]
    assert flags["ttc_median_flag"].startswith("ok: estimated from the data; not reached (> N")
    assert flags["requests"] == ""
    for row in table.itertuples(index=False):
        spec = CATALOGUE[row.name]
        assert (row.meaning, row.unit, row.reference) == DATA_DICTIONARY[row.name]
        assert (spec.meaning, spec.unit, spec.reference) == DATA_DICTIONARY[row.name]


def test_unknown_indicator_is_an_option_error() -> None:
    assert indicator("rate_per_1k") is CATALOGUE["rate_per_1k"]
    with pytest.raises(OptionError, match=r"unknown indicator 'rate_per_10k'.*CATALOGUE"):
        indicator("rate_per_10k")


def test_every_flag_column_and_value_is_described(table: pd.DataFrame) -> None:
    # every category column of the table has its values in FLAG_VALUES ...
    assert set(FLAG_VALUES) == set(CATEGORY_COLUMNS)
    for column in CATEGORY_COLUMNS:
        assert table[column].dtype == "string"
        # ... and every value the table holds is one of them, with N for the day count
        for value in table[column].dropna().unique():
            generic = re.sub(r"\d+(\.\d+)? days", "N days", str(value))
            assert generic in FLAG_VALUES[column], (column, value)
    # the median / p90 / share states each have their own column named in the catalogue
    assert CATALOGUE["ttc_median_days"].state == "ttc_median_flag"
    assert CATALOGUE["ttc_p90_days"].state == "ttc_p90_flag"
    for h in HORIZONS_DAYS:
        assert CATALOGUE[f"closed_within_{h}d_share"].state == f"closed_within_{h}d_flag"
        assert CATALOGUE[f"closed_within_{h}d_flag"].fmt == "category"
    assert table.loc["B", "closed_within_30d_flag"] == "ok"  # B's only request closed
    assert table.loc["A", "closed_within_30d_flag"] == "beyond follow-up (5.0 days)"
