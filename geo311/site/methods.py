"""How the figures are made, in plain words: the methods box and the data dictionary page.

The methods box (on the overview and every district page) says what is
counted, which population the rates divide by, how the median time to close
treats requests still open, what "on time" means and what the small-number
flags mean, and links to ``dictionary.html``. That page lists every
indicator the site shows -- plain label, unit, meaning and computation, the
small-number rule -- with a CSV and XLSX of the same table. Every sentence
comes from the indicator catalogue (:mod:`geo311.catalogue`) and the layer
metadata (population source and year, the thresholds the indicators were
computed with); the templates escape all of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from geo311.catalogue import IndicatorSpec, indicator, plain_indicators
from geo311.site.downloads import data_paths, write_frame
from geo311.site.html_tables import cell, header, plain_rows
from geo311.site.render import Renderer
from geo311.site.text import limits_of, population_words

__all__ = [
    "DICTIONARY_PAGE",
    "dictionary_page",
    "dictionary_table",
    "methods_box",
    "small_number_words",
]

#: File name of the data dictionary page, beside the overview.
DICTIONARY_PAGE = "dictionary.html"
#: Units of the data dictionary that read better in other words on the site.
_UNIT_WORDS = {"share (0-1)": "% of requests", "persons": "residents"}


def _unit(spec: IndicatorSpec) -> str:
    if spec.headline is not None:
        return spec.headline.unit
    return _UNIT_WORDS.get(spec.unit, spec.unit)


def small_number_words(spec: IndicatorSpec, limits: Mapping[str, int]) -> str:
    """Say when the value rests on too few requests or residents, with the run's thresholds.

    Examples
    --------
    >>> from geo311.catalogue import indicator
    >>> small_number_words(indicator("on_time_share"), {"min_count": 20, "min_population": 100})
    'Fewer than 20 requests due: shown, but marked unstable (hatched on maps).'
    >>> small_number_words(indicator("requests"), {"min_count": 20, "min_population": 100})
    'Always shown: no small-number rule.'
    """
    rule = spec.small_number
    if rule is None:
        return "Always shown: no small-number rule."
    counted = (rule.count_label or "requests").lower()
    words = (
        f"Fewer than {limits['min_count']:,} {counted}: shown, but marked unstable "
        "(hatched on maps)."
    )
    if rule.min_population is not None:
        words += (
            f" Fewer than {limits['min_population']:,} residents: no value, shown as "
            "insufficient data (never as zero)."
        )
    return words


def methods_box(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Return the methods box of a page: plain sentences and the dictionary link.

    Parameters
    ----------
    metadata : mapping
        Metadata of the layer the page's figures come from (its population
        source and year, and the thresholds its indicators used).

    Returns
    -------
    dict
        ``items`` (label and sentence pairs) and ``href`` (the dictionary page).
    """
    limits = limits_of(metadata)
    rate = indicator("rate_per_1k")
    assert rate.headline is not None  # a headline indicator of the catalogue
    items = [
        (spec.label, spec.plain or "")
        for spec in (indicator(name) for name in ("requests", "ttc_median_days", "on_time_share"))
    ]
    items.insert(1, (rate.label, f"{rate.plain} Residents: {population_words(metadata)}."))
    items.append(("Small numbers", rate.headline.read[-1].format(**limits)))
    return {"items": items, "href": DICTIONARY_PAGE}


def dictionary_table(metadata: Mapping[str, Any]) -> pd.DataFrame:
    """Return the data dictionary of the site: one row per indicator it shows.

    Parameters
    ----------
    metadata : mapping
        Metadata of the layer whose thresholds the small-number rule states.

    Returns
    -------
    pandas.DataFrame
        Columns ``indicator``, ``unit``, ``meaning`` and ``small_numbers``.
    """
    limits = limits_of(metadata)
    return pd.DataFrame(
        [
            (spec.label, _unit(spec), spec.plain, small_number_words(spec, limits))
            for spec in plain_indicators()
        ],
        columns=["indicator", "unit", "meaning", "small_numbers"],
    )


def dictionary_page(render: Renderer, metadata: Mapping[str, Any], *, page: Path) -> int:
    """Write the data dictionary page and its CSV/XLSX; return the page's bytes."""
    frame = dictionary_table(metadata)
    downloads = write_frame(frame, page, csv=data_paths(page)[0])
    table = {
        "id": "dictionary-table",
        "caption": "Indicators shown on this site",
        "headers": [
            header("Indicator"),
            header("Unit"),
            header("What it means and how it is computed"),
            header("When there are too few requests or residents"),
        ],
        "rows": plain_rows([[cell(v) for v in row] for row in frame.itertuples(index=False)]),
    }
    return render.write(
        "dictionary.html",
        page,
        page_title="Data dictionary",
        current="dictionary",
        table=table,
        downloads=downloads,
    )
