"""FastAPI dependencies: the registry and settings of the running app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from registry import JobRunner, Registry, Settings

__all__ = ["RegistryDep", "SettingsDep", "get_registry", "get_runner", "get_settings_dep"]


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_runner(request: Request) -> JobRunner | None:
    runner: JobRunner | None = request.app.state.runner
    return runner


RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RunnerDep = Annotated[JobRunner | None, Depends(get_runner)]
