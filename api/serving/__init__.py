"""An Open Inference Protocol V2 server for models loaded through the runtime.

``modelport serve-model fraud-clf@production`` (the ``modelport[serve]`` extra) serves
each reference with V2 REST (health, metadata, infer with JSON and binary tensors)
and, with ``--grpc-port``, V2 gRPC (``inference.GRPCInferenceService``) from the same
process and model table, dynamic batching, Prometheus metrics and, with ``--follow``,
alias moves swapped in without a failed request. It needs the runtime and the web stack
only: never the registry's database nor a training framework (an import-linter
contract holds that).

>>> app = create_app(ServeConfig(refs=("fraud-clf:3",)))   # doctest: +SKIP
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from api.serving._app import STICKY_HEADER, VERSION_HEADER, build_app
from api.serving._grpc import STICKY_METADATA
from api.serving._loading import BatchPolicy, Follower, ModelLoader, publish_weights
from api.serving._metrics import ServerMetrics
from api.serving._routes import Route, ServedModel, ServedVersion
from api.serving._state import ServerState

__all__ = [
    "STICKY_HEADER",
    "STICKY_METADATA",
    "VERSION_HEADER",
    "BatchPolicy",
    "ServeConfig",
    "create_app",
    "run",
]


@dataclass(frozen=True)
class ServeConfig:
    """Settings of one inference server (the ``serve-model`` options)."""

    refs: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int | None = None  # V2 gRPC on this port too; None: REST only
    follow: bool = False
    follow_interval: float = 10.0
    batching: BatchPolicy = field(default_factory=BatchPolicy)
    registry: str | None = None
    token: str | None = None
    device: str = "cpu"
    threads: int | None = None
    max_body: int = 64 * 1024 * 1024
    workers: int = 4


def _server_version() -> str:
    try:
        return metadata.version("modelport")
    except metadata.PackageNotFoundError:
        return "0"


def _load_options(config: ServeConfig) -> dict[str, Any]:
    options: dict[str, Any] = {"device": config.device}
    if config.threads is not None:
        options["threads"] = config.threads
    return options


def _retire(version: ServedVersion) -> None:
    version.batcher.close()


def create_app(config: ServeConfig) -> Any:
    """Load every reference (raising the runtime's errors if one cannot be loaded) and
    return the Starlette application serving them."""
    if not config.refs:
        raise ValueError("give at least one model reference to serve")
    metrics = ServerMetrics()
    executor = ThreadPoolExecutor(config.workers, thread_name_prefix="modelport-infer")
    loader = ModelLoader(
        executor,
        metrics,
        config.batching,
        registry=config.registry,
        token=config.token,
        load_options=_load_options(config),
    )
    known: dict[tuple[str, int], ServedVersion] = {}
    by_name: dict[str, list[Route]] = {}
    for text in config.refs:
        route = loader.open_ref(text, known)
        by_name.setdefault(route.ref.name, []).append(route)
    models = {name: ServedModel(name, routes) for name, routes in by_name.items()}
    for name, routes in by_name.items():
        for route in routes:
            publish_weights(metrics, name, route)
    follower = None
    if config.follow:
        follower = Follower(loader, models, config.follow_interval, on_retire=_retire)
    grpc_address = None if config.grpc_port is None else f"{config.host}:{config.grpc_port}"
    state = ServerState(models, metrics, config.max_body, follower, _server_version(), grpc_address)
    return build_app(state)


def run(config: ServeConfig) -> None:
    """Serve ``config.refs`` with uvicorn until interrupted."""
    import uvicorn

    app = create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
