"""Checks on the project's own files: the README's commands and the pins they rely on."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _block(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- {marker} -->\s*```bash\n(.+?)\n```\s*<!-- /{marker} -->", text, re.S)
    assert m, f"README.md lacks the {marker} block"
    return m.group(1).strip()


def test_readme_commands_use_the_constraints_file():
    for marker in ("start-command", "test-command"):
        assert "-c constraints.txt" in _block(marker)


def test_readme_start_command_serves_the_registry():
    assert "modelport serve" in _block("start-command")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci and 'eval "$TEST_COMMAND"' in ci


def test_constraints_pin_the_machine_critical_versions():
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["torch"] == "2.13.0"
    assert pins["scikit-learn"] == "1.9.0"


def test_every_extra_named_in_errors_exists():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for name in ("server", "sklearn", "torch", "tensorflow", "pmml", "all", "dev"):
        assert name in extras
