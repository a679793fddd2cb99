"""Programmatic Alembic: ``upgrade_database(settings)`` brings the schema to head.

The migration scripts live inside the package, so this works from any directory.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from registry._db import Database
from registry._settings import Settings

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade_database"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged scripts and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(settings: Settings, revision: str = "head") -> str | None:
    """Migrate the configured database to ``revision``; return the revision reached."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database.from_settings(settings)
    try:
        cfg = alembic_config(db.url)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        return current_revision(db)
    finally:
        db.dispose()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
