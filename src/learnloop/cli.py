"""The `learnloop` command. Each feature package contributes its commands from a `cli` module."""

from __future__ import annotations

import importlib

import click

# Feature modules that expose `commands: list[click.Command]`.
COMMAND_MODULES = (
    "learnloop.content.cli",
    "learnloop.web.cli",
    "learnloop.accounts.cli",
    "learnloop.feedback.cli",
    "learnloop.progress.cli",
    "learnloop.operations.cli",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="learnloop")
def main() -> None:
    """learnloop: interactive courses written as Markdown."""


for module_name in COMMAND_MODULES:
    module = importlib.import_module(module_name)
    for command in module.commands:
        main.add_command(command)
