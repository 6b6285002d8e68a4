"""``geo311 schemas``: list the schema profiles or print one."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from geo311.io.profiles import get_profile, list_profiles


@click.command("schemas")
@click.argument("name", required=False)
def schemas_cmd(name: str | None) -> None:
    """List the schema profiles, or print profile NAME's TOML (a template for a new city)."""
    if name:
        if name in list_profiles():
            resource = resources.files("geo311.io") / "schemas" / f"{name}.toml"
            click.echo(resource.read_text(encoding="utf-8"))
        else:
            click.echo(Path(get_profile(name).path).read_text(encoding="utf-8"))
        return
    for profile in list_profiles().values():
        click.secho(f"{profile.name}", bold=True, nl=False)
        click.echo(f"  {profile.title}")
        click.echo(f"    reads: {', '.join(profile.formats)}   time zone: {profile.timezone}")
        click.echo(f"    detected by columns: {', '.join(profile.detect)}")
    click.echo("\nPrint one with `geo311 schemas NAME`; use your own with --schema path.toml.")
