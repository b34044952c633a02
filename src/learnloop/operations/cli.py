"""Commands for operators: export, import and backup of learner data."""

import click

commands: list[click.Command] = []
