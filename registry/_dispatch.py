"""Who runs conversions, behind one interface: ``MODELPORT_WORKERS=inline|celery``.

``inline`` (the embedded default) runs jobs in threads of the server process, each
in its own worker subprocess; ``celery`` publishes them to the broker for
``modelport worker`` processes and converts nothing in the server.
"""

from __future__ import annotations

from typing import Protocol

from registry._jobs import JobRunner
from registry._service import Registry
from registry._settings import Settings

__all__ = ["Dispatcher", "InlineDispatcher", "make_dispatcher", "run_worker"]


class Dispatcher(Protocol):
    """Hands accepted jobs to whatever runs them."""

    def start(self) -> None: ...

    def submit(self, job_id: str, request_id: str | None = None) -> bool:
        """Queue a job the registry just created; False if it waits for a retry."""
        ...

    def stop(self) -> None: ...


class InlineDispatcher:
    """The in-process job runner (none when ``worker_concurrency`` is 0)."""

    def __init__(self, registry: Registry) -> None:
        concurrency = registry.settings.worker_concurrency
        self.runner = JobRunner(registry) if concurrency > 0 else None

    def start(self) -> None:
        if self.runner is not None:
            self.runner.start()

    def submit(self, job_id: str, request_id: str | None = None) -> bool:
        if self.runner is not None:
            self.runner.notify()
        return True

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()


def make_dispatcher(registry: Registry) -> Dispatcher:
    """The dispatcher the settings ask for."""
    if registry.settings.workers == "celery":
        from registry._celery import CeleryDispatcher  # Celery is imported only when used

        return CeleryDispatcher(registry)
    return InlineDispatcher(registry)


def run_worker(settings: Settings, queues: list[str], concurrency: int = 1) -> None:
    """Run a Celery conversion worker on ``queues`` (all when empty) until stopped."""
    from registry._celery import run_worker as run

    run(settings, queues, concurrency)
