"""``geo311 city``: propose a boundary manifest for a new city, and check one."""

from __future__ import annotations

from pathlib import Path

import click

from geo311.cli.options import data_dir_opt, overwrite_opt
from geo311.io.atomic import atomic_write, check_overwrite


@click.group("city")
def city_group() -> None:
    """Describe a city once: propose its boundary manifest, then check it."""


@city_group.command("check")
@click.argument("manifest", metavar="MANIFEST")
@data_dir_opt
def check_cmd(manifest: str, data_dir: Path | None) -> None:
    """Validate every layer of MANIFEST (a built-in city or a TOML file) in one report.

    Exits 1 when any finding is an error (files, CRS, ids, geometry, coverage).
    """
    from geo311.join.check import check_city  # noqa: PLC0415

    report = check_city(manifest, data_dir=data_dir)
    click.echo(report.to_text())
    if not report.ok:
        raise SystemExit(1)


@city_group.command("init")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--city", required=True, help="City key for the manifest, e.g. springfield.")
@click.option(
    "--sample",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A 311 export of the city: also propose its schema profile and label columns.",
)
@overwrite_opt
def init_cmd(folder: Path, city: str, sample: Path | None, overwrite: bool) -> None:
    """Propose a boundary manifest from FOLDER's boundary files (and a schema profile)."""
    from geo311.join.city_init import init_city  # noqa: PLC0415

    proposal = init_city(folder, city=city, sample=sample)
    manifest = Path(proposal.manifest_path)
    written = [manifest]
    profile_path = folder / f"{city}_profile.toml"
    if proposal.profile is not None:
        written.append(profile_path)
    check_overwrite(written, overwrite=overwrite)
    with atomic_write(manifest) as tmp:
        tmp.write_text(proposal.to_toml(), encoding="utf-8")
    if proposal.profile is not None:
        with atomic_write(profile_path) as tmp:
            tmp.write_text(proposal.profile.to_toml(), encoding="utf-8")
    for question in proposal.questions:
        click.secho(f"? {question}", err=True, fg="yellow")
    click.echo(f"wrote {', '.join(str(p) for p in written)}")
    click.echo(f"check it with `geo311 city check {manifest}`")
