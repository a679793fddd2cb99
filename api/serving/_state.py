"""The inference server's shared state: what the REST and gRPC endpoints both read.

Below ``_app`` (REST) and ``_grpc`` so that neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.serving._loading import Follower
from api.serving._metrics import ServerMetrics
from api.serving._routes import ServedModel

__all__ = ["ServerState"]


@dataclass
class ServerState:
    """What the endpoints read: the served models and server-wide settings."""

    models: dict[str, ServedModel]
    metrics: ServerMetrics
    max_body: int
    follower: Follower | None = None
    server_version: str = "0"
    grpc_address: str | None = None  # host:port of the V2 gRPC service, None: off
