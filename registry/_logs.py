"""Log records that carry the request id of the upload behind them, and JSON output.

An API request gets a request id (the caller's ``X-Request-ID`` or a new one); the job
it queues carries that id in its task message, so a conversion worker's log lines name
the same id as the API's. ``configure_logging("json")`` writes one JSON object per line
(python-json-logger) with ``request_id`` and ``job_id`` fields.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

__all__ = [
    "configure_logging",
    "current_request_id",
    "job_context",
    "new_request_id",
    "request_context",
]

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "modelport_request_id", default=None
)
_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "modelport_job_id", default=None
)
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def new_request_id(offered: str | None = None) -> str:
    """The caller's id when it is a short token, else a fresh random one."""
    if offered and _ACCEPTED_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


@contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


@contextmanager
def job_context(job_id: str, request_id: str | None) -> Iterator[None]:
    """Within the block, log records name the job and the request that queued it."""
    job_token = _job_id.set(job_id)
    req_token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(req_token)
        _job_id.reset(job_token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        record.job_id = _job_id.get()
        return True


def configure_logging(fmt: str = "text", level: int | str = logging.INFO) -> None:
    """Send the root logger's records to stderr, as text or as one JSON object a line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}{request_id}{job_id}{process}",
                style="{",
                rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
