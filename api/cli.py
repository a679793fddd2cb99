"""The server side's commands: ``modelport serve``, ``serve-model``, ``worker``, ``db upgrade``.

The ``modelport`` command line (``clients.cli``) names no server module: it adds the
commands of every ``typer.Typer`` in the ``modelport.commands`` entry-point group, and
this module's :data:`commands` is registered there (``pyproject.toml``). import-linter
keeps the arrows visible: clients import nothing of ``api`` or ``registry``, and nothing
imports this module, which may import both.

At import this module needs only typer and rich, so ``modelport --help`` and the
client commands work on an install without the server extras; the server stacks are
imported when a command runs, and a missing one is a one-line error naming the extra.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["commands"]

#: The server commands, added to ``modelport`` through the ``modelport.commands`` group.
commands = typer.Typer(no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance of a registry server.", no_args_is_help=True)
commands.add_typer(db_app, name="db")

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SERVER_EXTRA = "pip install 'modelport[server]'"


def _fail(message: str, code: int) -> NoReturn:
    """One line on stderr (``error: ...``, as every ``modelport`` command), then exit."""
    sys.stdout.flush()
    one_line = " ".join(message.split())
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[red]error:[/red] {escape(one_line)}", markup=True
    )
    raise typer.Exit(code)


@commands.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data: Annotated[
        Path | None, typer.Option("--data", help="Data folder (database, blobs).")
    ] = None,
    reload: Annotated[bool, typer.Option("--reload/--no-reload", help="Dev reload.")] = False,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = False,
) -> None:
    """Start the registry (API and web UI) with uvicorn: one process, see docs/configuration.md.

    One worker process on purpose: it holds the job runner and its warm conversion
    parents, the in-memory cache of version documents (so its own writes are seen at
    once) and the only writer of a SQLite database. For more processes, run uvicorn
    with --workers against PostgreSQL. Request logging is off unless --access-log.
    """
    try:
        import uvicorn

        from api.app import create_app
        from registry import Settings
    except ImportError:
        _fail(f"the registry server is not installed; run: {_SERVER_EXTRA}", 1)
    overrides: dict[str, Any] = {}
    if data is not None:
        data.mkdir(parents=True, exist_ok=True)
        overrides["data_dir"] = data.resolve()
    try:
        settings = Settings(**overrides)
    except ValueError as exc:  # invalid MODELPORT_* settings
        _fail(str(exc), 5)
    if host not in _LOOPBACK and not settings.write_tokens:
        Console(stderr=True).print(
            f"[yellow]warning:[/yellow] anyone who can reach {host}:{port} may upload models "
            "and move aliases; set MODELPORT_WRITE_TOKENS (and MODELPORT_READ_TOKENS) to "
            "require tokens: 'modelport token' makes one"
        )
    options: dict[str, Any] = {"host": host, "port": port, "access_log": access_log}
    if not reload:
        # a factory, so the app is built after uvicorn has set up its logging
        uvicorn.run(functools.partial(create_app, settings), factory=True, **options)
        return
    # A reloading server imports the app by name in a child process it spawns, which
    # receives its settings the one way a spawned process can: from the environment.
    import os

    for name, value in overrides.items():
        os.environ[f"MODELPORT_{name.upper()}"] = str(value)
    uvicorn.run("api.app:create_app", factory=True, reload=True, **options)


@commands.command("serve-model")
def serve_model(
    refs: Annotated[list[str], typer.Argument(help="Models: name:3, name@alias, name, or a path.")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    grpc_port: Annotated[
        int | None,
        typer.Option(
            min=1, help="Also serve V2 gRPC on this port (off by default).", show_default=False
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Follow aliases: swap in new versions as they move.")
    ] = False,
    follow_interval: Annotated[
        float, typer.Option(help="Seconds between alias checks with --follow.")
    ] = 10.0,
    batching: Annotated[
        bool | None,
        typer.Option(
            "--batching/--no-batching",
            help="Dynamic batching (default: on where the batch axis is dynamic).",
            show_default=False,
        ),
    ] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="Rows per merged model call.")] = 64,
    max_delay_ms: Annotated[
        float, typer.Option(min=0, help="How long a batch waits for more requests.")
    ] = 0.0,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="onnxruntime threads per model call (default: its own).", show_default=False
        ),
    ] = None,
) -> None:
    """Serve models over the Open Inference Protocol V2 (REST, and gRPC with --grpc-port)."""
    try:
        import uvicorn  # noqa: F401 - checked here so a missing extra is one clear line

        from api import serving
    except ImportError as exc:
        _fail(
            f"the inference server is not installed ({exc}); run: pip install 'modelport[serve]'",
            1,
        )
    config = serving.ServeConfig(
        refs=tuple(refs),
        host=host,
        port=port,
        grpc_port=grpc_port,
        follow=follow,
        follow_interval=follow_interval,
        batching=serving.BatchPolicy(batching, max_batch, max_delay_ms),
        device=device,
        threads=threads,
    )
    serving.run(config)  # errors: the modelport CLI prints them and picks the exit code


@commands.command()
def worker(
    queues: Annotated[
        str,
        typer.Option(
            "--queues", "-Q", help="Comma list of queues to serve (sklearn, torch, tensorflow)."
        ),
    ] = "",
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Jobs run at once.")
    ] = 1,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve Prometheus metrics on this port."),
    ] = None,
) -> None:
    """Run a conversion worker for the Celery tier (MODELPORT_WORKERS=celery servers).

    It consumes the named queues (all by default) from MODELPORT_BROKER_URL and records
    results in the registry's database and blob store (MODELPORT_DATABASE_URL, ...).
    """
    try:
        import registry

        settings = registry.Settings()
    except ImportError as exc:
        _fail(
            f"the conversion worker is not installed ({exc}); "
            "run: pip install 'modelport[server,worker]'",
            1,
        )
    except ValueError as exc:  # invalid MODELPORT_* settings
        _fail(str(exc), 5)
    registry.configure_logging(settings.log_format)
    if metrics_port is not None:
        registry.serve_metrics(metrics_port)
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    try:
        registry.run_worker(settings, wanted, concurrency)
    except ValueError as exc:
        _fail(str(exc), 2)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (MODELPORT_DATABASE_URL, default SQLite)."""
    try:
        import registry
    except ImportError as exc:
        _fail(f"the registry server is not installed ({exc}); run: {_SERVER_EXTRA}", 1)
    registry.upgrade_database(registry.get_settings())
    Console(stderr=True).print("database is up to date")
