"""``geo311 schemas``: list the schema profiles, print one, or propose one for a new export."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from geo311.cli.options import out_opt, overwrite_opt, timezone_opt
from geo311.io.atomic import atomic_write, check_overwrite
from geo311.io.profiles import get_profile, list_profiles


class _ProfileOrCommand(click.Group):
    """``geo311 schemas NAME`` prints a profile; ``geo311 schemas infer FILE`` is a command."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands:
            args = ["show", *args]
        return super().resolve_command(ctx, args)


@click.group("schemas", cls=_ProfileOrCommand, invoke_without_command=True)
@click.pass_context
def schemas_cmd(ctx: click.Context) -> None:
    """List the schema profiles; `schemas NAME` prints one; `schemas infer FILE` proposes one."""
    if ctx.invoked_subcommand is not None:
        return
    for profile in list_profiles().values():
        click.secho(f"{profile.name}", bold=True, nl=False)
        click.echo(f"  {profile.title}")
        click.echo(f"    reads: {', '.join(profile.formats)}   time zone: {profile.timezone}")
        click.echo(f"    detected by columns: {', '.join(profile.detect)}")
    click.echo("\nPrint one with `geo311 schemas NAME`; use your own with --schema path.toml.")


@schemas_cmd.command("show", hidden=True)
@click.argument("name")
def show_cmd(name: str) -> None:
    """Print profile NAME's TOML (a template for a new city)."""
    if name in list_profiles():
        resource = resources.files("geo311.io") / "schemas" / f"{name}.toml"
        click.echo(resource.read_text(encoding="utf-8"))
    else:
        click.echo(Path(get_profile(name).path).read_text(encoding="utf-8"))


@schemas_cmd.command("infer")
@click.argument("path", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--city", help="Name of the profile (default: the file's name).")
@timezone_opt
@click.option(
    "--sample-rows",
    type=click.IntRange(min=10),
    default=5000,
    show_default=True,
    help="Rows read to judge the values.",
)
@out_opt("Profile TOML to write (default: print it).", required=False)
@overwrite_opt
def infer_cmd(
    path: Path,
    city: str | None,
    timezone: str | None,
    sample_rows: int,
    out: Path | None,
    overwrite: bool,
) -> None:
    """Propose a schema profile for an unknown 311 export FILE, with a confidence per column."""
    from geo311.io.infer import infer_profile  # noqa: PLC0415

    proposal = infer_profile(path, city=city, timezone=timezone, sample_rows=sample_rows)
    for guess in proposal.mapping.values():
        click.echo(
            f"{guess.target:>22} <- {guess.source:<28} {guess.confidence:4.0%}  "
            f"{'; '.join(guess.reasons)}",
            err=True,
        )
    for question in proposal.questions:
        click.secho(f"? {question}", err=True, fg="yellow")
    text = proposal.to_toml()
    if out is None:
        click.echo(text)
        return
    check_overwrite([out], overwrite=overwrite)
    with atomic_write(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}; settle the questions above, then ingest with --schema {out}")
