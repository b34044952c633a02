"""Commands for the accounts feature."""

import click

commands: list[click.Command] = []
