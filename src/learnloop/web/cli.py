"""Commands for the web feature."""

import click

commands: list[click.Command] = []
