"""``learnloop worker``: the feedback worker as its own process."""

from __future__ import annotations

import click


@click.command("worker")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Port for /metrics, /livez and /readyz; -1 turns the server off. "
    "Default: LEARNLOOP_WORKER_METRICS_PORT, else 9101.",
)
def worker(metrics_port: int | None) -> None:
    """Grade written answers from the database queue until SIGTERM.

    Tuning: LEARNLOOP_WORKER_LEASE_SECONDS, _POLL_SECONDS, _MAX_ATTEMPTS,
    _BACKOFF_BASE_SECONDS, _BACKOFF_MAX_SECONDS.
    """
    # Imported here so that `learnloop --help` does not load the grading stack.
    from learnloop.feedback.worker import WorkerConfig, run_worker_process
    from learnloop.settings import get_settings

    settings = get_settings()
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    run_worker_process(
        settings,
        config=WorkerConfig.from_settings(settings),
        metrics_port=None if port < 0 else port,
    )
