"""Commands for the feedback feature."""

from __future__ import annotations

import click

from learnloop.feedback.worker_cli import worker

commands: list[click.Command] = [worker]
