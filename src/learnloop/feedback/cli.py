"""Commands for the feedback feature."""

import click

commands: list[click.Command] = []
