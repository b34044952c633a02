"""Commands for the content feature."""

import click

commands: list[click.Command] = []
