"""Commands for the progress feature."""

import click

commands: list[click.Command] = []
