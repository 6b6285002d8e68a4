"""Equity indicators per area: rates, time to close, due dates, patterns and equity.

The package reads like the computation: :mod:`.scope` selects the requests
once, :mod:`.rates`, :mod:`.time_to_close` (with :mod:`.survival`),
:mod:`.compliance` and :mod:`.patterns` tabulate them, :mod:`.area` composes
the per-area and citywide tables, the equity modules compare areas with who
lives there, and :mod:`.tables` builds and writes every table of a layer.
Every indicator column is described once, in :mod:`geo311.catalogue`.

Import the public functions from here::

    from geo311.indicators import area_indicators, equity_summary
"""

from geo311.catalogue import DATA_DICTIONARY, HORIZONS_DAYS, data_dictionary
from geo311.indicators.area import area_indicators, city_indicators
from geo311.indicators.concentration import ConcentrationIndex, concentration_index
from geo311.indicators.disparity import DISPARITY_LABELS, disparity_scores
from geo311.indicators.equity import (
    BY_POPULATION,
    DEFAULT_INDICATORS,
    EQUITY_COLUMNS,
    equity_summary,
)
from geo311.indicators.groups import group_indicators
from geo311.indicators.inequality import GiniResult, TheilResult, gini, theil
from geo311.indicators.patterns import (
    COVERAGE_FLAGS,
    PATTERN_COLUMNS,
    PATTERN_DICTIONARY,
    channel_mix,
    service_mix,
    time_patterns,
)
from geo311.indicators.quintiles import (
    DEFAULT_POOLING,
    Pooling,
    QuintileTable,
    pooled_rate,
    pooled_requests,
    pooled_share,
    population_quantiles,
    quintile_table,
    weighted_mean,
)
from geo311.indicators.rates import RATE_FLAGS
from geo311.indicators.scope import CITY_ID, DEMAND, ROW_COUNTS
from geo311.indicators.sources import SOURCE_TOLERANCE
from geo311.indicators.survival import survival_curves
from geo311.indicators.tables import (
    LayerTables,
    build_tables,
    city_tables,
    disparity_table,
    table_paths,
    write_tables,
)
from geo311.indicators.time_to_close import TTC_FLAGS

__all__ = [
    "BY_POPULATION",
    "CITY_ID",
    "COVERAGE_FLAGS",
    "DATA_DICTIONARY",
    "DEFAULT_INDICATORS",
    "DEFAULT_POOLING",
    "DEMAND",
    "DISPARITY_LABELS",
    "EQUITY_COLUMNS",
    "HORIZONS_DAYS",
    "PATTERN_COLUMNS",
    "PATTERN_DICTIONARY",
    "RATE_FLAGS",
    "ROW_COUNTS",
    "SOURCE_TOLERANCE",
    "TTC_FLAGS",
    "ConcentrationIndex",
    "GiniResult",
    "LayerTables",
    "Pooling",
    "QuintileTable",
    "TheilResult",
    "area_indicators",
    "build_tables",
    "channel_mix",
    "city_indicators",
    "city_tables",
    "concentration_index",
    "data_dictionary",
    "disparity_scores",
    "disparity_table",
    "equity_summary",
    "gini",
    "group_indicators",
    "pooled_rate",
    "pooled_requests",
    "pooled_share",
    "population_quantiles",
    "quintile_table",
    "service_mix",
    "survival_curves",
    "table_paths",
    "theil",
    "time_patterns",
    "weighted_mean",
    "write_tables",
]
