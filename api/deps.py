"""FastAPI dependencies: the registry and settings of the running app.

They are ``async`` on purpose: FastAPI runs a plain ``def`` dependency in the thread
pool, one thread hop per dependency per request, for what is an attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from registry import Dispatcher, Registry, Settings

__all__ = [
    "DispatcherDep",
    "RegistryDep",
    "SettingsDep",
    "get_dispatcher",
    "get_registry",
    "get_settings_dep",
]


async def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
