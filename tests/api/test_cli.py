"""The server side's commands (api/cli.py), which ``modelport`` finds by entry point."""

from __future__ import annotations

import os


def test_serve_hands_the_registry_its_settings_without_touching_the_environment(
    tmp_path, monkeypatch
):
    """``serve --data DIR`` builds the app from a Settings object; before, it wrote
    MODELPORT_DATA_DIR into the process environment for the app factory to read."""
    import uvicorn
    from typer.testing import CliRunner

    from api.cli import commands

    monkeypatch.delenv("MODELPORT_DATA_DIR", raising=False)
    started: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    data = tmp_path / "data"
    result = CliRunner().invoke(commands, ["serve", "--data", str(data), "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "MODELPORT_DATA_DIR" not in os.environ
    assert started["factory"] is True and started["port"] == 8123
    app = started["app"]()  # type: ignore[operator]
    assert app.state.settings.data_dir == data.resolve()
