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
    "learnloop.teaching.cli",
)
# Commands whose module is imported only when they run: the evaluation code (datasets,
# scikit-learn, PyTorch for training) must never be loaded by `serve` or `worker`.
LAZY_COMMANDS = {
    "eval-grader": ("learnloop.evaluation.cli", "eval_grader"),
    "train-grader": ("learnloop.evaluation.cli", "train_grader"),
    "eval-tutor": ("learnloop.evaluation.tutor_eval", "eval_tutor"),
    "eval-teacher-examples": ("learnloop.evaluation.cli", "eval_teacher_examples"),
}


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module_name, attribute = LAZY_COMMANDS[cmd_name]
            command: click.Command = getattr(importlib.import_module(module_name), attribute)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        # A command pointed at a database without the schema says what to do, in one line.
        from learnloop.db import NoSchema

        try:
            return super().invoke(ctx)
        except NoSchema as error:
            raise click.ClickException(str(error)) from error


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="learnloop")
def main() -> None:
    """learnloop: interactive courses written as Markdown."""


for module_name in COMMAND_MODULES:
    module = importlib.import_module(module_name)
    for command in module.commands:
        main.add_command(command)
