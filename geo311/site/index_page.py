"""The overview page: coverage, layers, citywide cards, map and district lists, counts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geo311.indicators.scope import CITY_ID
from geo311.site.downloads import headline_section, write_downloads
from geo311.site.equity_section import equity_section
from geo311.site.headlines import HEADLINE_INDICATORS
from geo311.site.html_tables import area_table, cell, header, plain_rows
from geo311.site.layer import SiteLayer, singular
from geo311.site.render import Renderer, SitePlan
from geo311.site.text import card_context, fmt, layer_notes, limits_of, row_words, shared_notes

__all__ = ["index_page"]


def _funnel_table(layers: Mapping[str, SiteLayer]) -> dict[str, Any]:
    keys = list(layers)
    steps: list[str] = []
    for layer in layers.values():
        for step in (layer.metadata.get("indicators") or {}).get("rows") or {}:
            if step not in steps:
                steps.append(step)
    headers = [header("Step"), header("Meaning")]
    headers += [header(layers[k].title, numeric=True) for k in keys]
    rows = []
    for step in steps:
        counts = [
            ((layers[k].metadata.get("indicators") or {}).get("rows") or {}).get(step)
            for k in keys
        ]
        rows.append(
            [cell(row_words(step)[0]), cell(row_words(step)[1])]
            + [cell(fmt(c, "count"), numeric=True) for c in counts]
        )
    return {
        "id": "funnel-table",
        "caption": "Requests counted and set aside, per layer",
        "headers": headers,
        "rows": plain_rows(rows),
    }


def _ledger_table(ledger: Any) -> dict[str, Any]:
    """Per-stage counts of the ledger (never its examples or notes: they may quote rows)."""
    rows = []
    for stage in ledger.stages:
        dropped = "; ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in stage.dropped.items())
        flagged = "; ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in stage.flagged.items())
        rows.append(
            [
                cell(stage.stage),
                cell(fmt(stage.rows_in, "count"), numeric=True),
                cell(fmt(stage.rows_out, "count"), numeric=True),
                cell(dropped or "none"),
                cell(flagged or "none"),
            ]
        )
    return {
        "id": "ledger-table",
        "caption": "Rows per stage of ingest and join",
        "rows": plain_rows(rows),
        "headers": [
            header("Stage"),
            header("Rows in", numeric=True),
            header("Rows out", numeric=True),
            header("Dropped (reason: rows)"),
            header("Flagged, kept (reason: rows)"),
        ],
    }


def index_page(
    render: Renderer,
    layers: Mapping[str, SiteLayer],
    plan: SitePlan,
    *,
    reference: SiteLayer,
    district: SiteLayer | None,
    ledger: Any,
    out_dir: Path,
) -> int:
    """Write the overview page; return its bytes."""
    meta = reference.metadata
    limits = limits_of(meta)
    layers_table = {
        "id": "layers-table",
        "caption": "Boundary layers",
        "headers": [
            header("Layer"),
            header("Vintage"),
            header("Source"),
            header("Areas", numeric=True),
            header("Requests counted", numeric=True),
        ],
        "rows": plain_rows(
            [
                cell(layer.title),
                cell(layer.metadata.get("vintage") or "unknown"),
                cell(layer.metadata.get("layer_source") or "unknown"),
                cell(fmt(len(layer.indicators), "count"), numeric=True),
                cell(fmt(layer.city.get("requests"), "count"), numeric=True),
            ]
            for key, layer in layers.items()
        ),
    }
    city_cards = [
        card_context(h, None, reference.city, area_label="City", limits=limits)
        for h in HEADLINE_INDICATORS.values()
    ]
    map_rows = []
    for key, column, page, png in plan.maps:
        h = HEADLINE_INDICATORS[column]
        map_rows.append(
            [
                cell(h.title, href=page.relative_to(out_dir).as_posix()),
                cell(layers[key].title),
                cell(h.unit),
                cell(
                    "PNG image" if png is not None else "not written",
                    href=png.relative_to(out_dir).as_posix() if png is not None else None,
                ),
            ]
        )
    for key, columns, page in plan.combined:
        map_rows.append(
            [
                cell(
                    f"All {len(columns)} headline indicators (switchable layers)",
                    href=page.relative_to(out_dir).as_posix(),
                ),
                cell(layers[key].title),
                cell("as each indicator"),
                cell("see the single-indicator pages"),
            ]
        )
    maps_table = {
        "id": "maps-table",
        "caption": "Map pages",
        "headers": [header("Map"), header("Areas"), header("Unit"), header("Static image")],
        "rows": plain_rows(map_rows),
    }
    districts_table = None
    if district is not None and plan.districts:
        districts_table = area_table(
            district.indicators,
            table_id="districts-table",
            caption=f"{district.title} (click a column header to sort)",
            limits=limits_of(district.metadata),
            columns=list(HEADLINE_INDICATORS),
            name_label=singular(district.title).capitalize(),
            links={i: page.relative_to(out_dir).as_posix() for i, _, page in plan.districts},
        )
    city = reference.city.to_frame(CITY_ID).T.assign(area_name="City")
    sections = [headline_section("city", city, columns=list(HEADLINE_INDICATORS), limits=limits)]
    if districts_table is not None and district is not None:
        sections.append(
            headline_section(
                "districts",
                district.indicators,
                columns=list(HEADLINE_INDICATORS),
                limits=limits_of(district.metadata),
            )
        )
    notes = shared_notes(meta)
    for layer in layers.values():
        notes += layer_notes(layer.metadata, title=layer.title)
    context = {
        "page_title": "Overview",
        "current": "index",
        "downloads": write_downloads(sections, plan.index),
        "has_sortable": districts_table is not None,
        "layers_table": layers_table,
        "city_cards": city_cards,
        "maps_table": maps_table,
        "skipped": plan.skipped,
        "districts_table": districts_table,
        "districts_title": district.title if district is not None else "",
        "equity": equity_section(district if district is not None else reference),
        "funnel_table": _funnel_table(layers),
        "ledger_table": _ledger_table(ledger) if ledger is not None else None,
        "notes": notes,
    }
    return render.write("index.html", plan.index, **context)
