"""The closing lines of a command that built a site: what was written and where to open it.

``geo311 run``, ``geo311 demo`` and ``geo311 maps`` end with the same few
lines on stdout::

    site: 30 pages (12 map pages, 14 district pages) and 12 PNGs in out
    open: file:///home/me/out/index.html
    tables: 28 files for 3 layers (neighborhoods, council_districts, census_tracts) in out/...
    requests: 3,500 rows in, 3,480 kept, 20 dropped (duplicate 20)
    done in 1 min 9 s
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from geo311.ledger import Ledger

__all__ = ["echo_summary", "elapsed_text", "ledger_line", "site_details", "site_line"]


def elapsed_text(seconds: float) -> str:
    """Say how long something took, to the second past a minute.

    >>> elapsed_text(4.25), elapsed_text(69.4), elapsed_text(3725)
    ('4.2 s', '1 min 9 s', '62 min 5 s')
    """
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def ledger_line(ledger: Ledger) -> str:
    """Say in one line how many rows came in, were kept and were dropped, by reason.

    >>> ledger = Ledger()
    >>> _ = ledger.record("read", rows_in=10, rows_out=10)
    >>> _ = ledger.record("clean", rows_in=10, rows_out=7, dropped={"duplicate": 3})
    >>> ledger_line(ledger)
    'requests: 10 rows in, 7 kept, 3 dropped (duplicate 3)'
    """
    dropped = {reason: n for reason, n in ledger.dropped.items() if n}
    line = (
        f"requests: {ledger.rows_in:,} rows in, {ledger.rows_out:,} kept, "
        f"{sum(dropped.values()):,} dropped"
    )
    if dropped:
        line += " (" + ", ".join(f"{reason} {n:,}" for reason, n in dropped.items()) + ")"
    return line


def site_line(pages: Sequence[Path], pngs: int, out_dir: Path) -> str:
    """Say how many pages of each kind and PNGs a site has, and where.

    >>> site_line([Path("s/index.html"), Path("s/map-a.html"), Path("s/district-1.html")], 1,
    ...           Path("s"))
    'site: 3 pages (1 map page, 1 district page) and 1 PNG in s'
    """
    html = [p for p in pages if p.suffix == ".html"]
    kinds = {
        "map page": sum(p.name.startswith("map-") for p in html),
        "district page": sum(p.name.startswith("district-") for p in html),
        "RecycleStat page": sum(p.name.startswith("recycle-") for p in html),
    }
    parts = [_count(n, kind) for kind, n in kinds.items() if n]
    detail = f" ({', '.join(parts)})" if parts else ""
    return f"site: {_count(len(html), 'page')}{detail} and {_count(pngs, 'PNG')} in {out_dir}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def echo_summary(
    *,
    out_dir: Path,
    pages: Sequence[Path],
    pngs: int,
    tables: Mapping[str, Path] | None = None,
    ledger: Ledger | None = None,
    started: float | None = None,
    details: Sequence[str] = (),
) -> None:
    """Echo what a command wrote and where to open it, ending with the time it took.

    Parameters
    ----------
    out_dir : pathlib.Path
        The site folder.
    pages : sequence of pathlib.Path
        The site's pages (``index.html`` among them).
    pngs : int
        Static maps written.
    tables : mapping of str to pathlib.Path, optional
        Indicator table files written, by ``<layer>.<kind>`` (and ``equity``),
        as :func:`geo311.indicators.tables.table_paths` names them.
    ledger : Ledger, optional
        The run's row ledger, summed up in one line.
    started : float, optional
        :func:`time.perf_counter` when the command started.
    details : sequence of str
        More lines, shown after the site line (e.g. with ``-v``).
    """
    click.echo(site_line(pages, pngs, out_dir))
    for line in details:
        click.echo(line)
    click.echo(f"open: {(out_dir / 'index.html').resolve().as_uri()}")
    if tables:
        layers = list(dict.fromkeys(name.split(".")[0] for name in tables if "." in name))
        folder = Path(next(iter(tables.values()))).parent
        click.echo(
            f"tables: {_count(len(tables), 'file')} for {_count(len(layers), 'layer')} "
            f"({', '.join(layers)}) in {folder}"
        )
    if ledger is not None and ledger.stages:
        click.echo(ledger_line(ledger))
    if started is not None:
        click.echo(f"done in {elapsed_text(time.perf_counter() - started)}")


def site_details(site: Any) -> list[str]:
    """Return the site's largest page and the largest displacement of its boundaries."""
    pages = [p for p in site.pages if p.suffix == ".html"]
    largest = max(pages, key=lambda p: site.sizes[p])
    moved = ", ".join(f"{k} {v:.1f} m" for k, v in site.max_displacement_m.items())
    return [
        f"largest page {largest.name} {site.sizes[largest] / 1e6:.2f} MB; display "
        f"simplification moved boundaries at most: {moved}"
    ]
