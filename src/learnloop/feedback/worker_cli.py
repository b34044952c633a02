"""``learnloop worker``: the feedback worker as its own process."""

from __future__ import annotations

import click

# The worker has no web app, so it serves /metrics on a port of its own.
DEFAULT_METRICS_PORT = 9101


@click.command("worker")
@click.option(
    "--metrics-port",
    type=int,
    envvar="LEARNLOOP_WORKER_METRICS_PORT",
    default=DEFAULT_METRICS_PORT,
    show_default=True,
    help="Port for /metrics, /livez and /readyz; -1 turns the server off.",
)
def worker(metrics_port: int) -> None:
    """Grade written answers from the database queue until SIGTERM.

    Tuning: LEARNLOOP_WORKER_LEASE_SECONDS, _POLL_SECONDS, _MAX_ATTEMPTS,
    _BACKOFF_BASE_SECONDS, _BACKOFF_MAX_SECONDS.
    """
    # Imported here so that `learnloop --help` does not load the grading stack.
    from learnloop.feedback.worker import WorkerConfig, run_worker_process
    from learnloop.settings import get_settings

    run_worker_process(
        get_settings(),
        config=WorkerConfig.from_env(),
        metrics_port=None if metrics_port < 0 else metrics_port,
    )
