"""Command groups reach ``modelport`` through the ``modelport.commands`` entry points.

The server side's commands come this way from ``api.cli``; these tests install other
distributions' groups (a dist-info with ``entry_points.txt`` in a folder on
``PYTHONPATH``, as pip leaves one) and run the command line in its own process.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

_GROUP_MODULE = '''
import pathlib, typer
pathlib.Path({marker!r}).write_text("imported")
hello = typer.Typer()

@hello.command()
def greet(name: str) -> None:
    """Say hello."""
    print(f"hello {{name}}")

@hello.command()
def push() -> None:
    """A second push."""
'''


def _install(site: Path, module: str, lines: list[str], source: str = "") -> None:
    site.mkdir(parents=True, exist_ok=True)
    if source:
        (site / f"{module}.py").write_text(source)
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[modelport.commands]\n" + "\n".join(lines) + "\n")


def _modelport(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{site}"
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-c", "from clients.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def _greeter(tmp_path: Path, greeting: str = "acme_hello:hello") -> tuple[Path, Path]:
    site, marker = tmp_path / "site", tmp_path / "imported"
    source = _GROUP_MODULE.format(marker=str(marker)).replace("def push", "def wave")
    _install(site, "acme_hello", [f"hello = {greeting}"], source)
    return site, marker


def test_a_plugin_command_group_joins_the_command_line(tmp_path):
    site, _ = _greeter(tmp_path)
    result = _modelport(site, "greet", "world")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello world"
    listed = _modelport(site, "--help")
    assert "greet" in listed.stdout and "push" in listed.stdout


def test_client_commands_do_not_import_plugins(tmp_path):
    site, marker = _greeter(tmp_path)
    result = _modelport(site, "token", "--json")
    assert result.returncode == 0, result.stderr
    assert not marker.exists()  # only a name the client lacks (or --help) loads plug-ins
    assert _modelport(site, "greet", "x").returncode == 0
    assert marker.exists()


def test_a_group_that_would_replace_a_command_is_left_out(tmp_path):
    site, marker = tmp_path / "site", tmp_path / "imported"
    _install(
        site, "acme_clash", ["clash = acme_clash:hello"], _GROUP_MODULE.format(marker=str(marker))
    )
    result = _modelport(site, "--help")
    assert result.returncode == 0, result.stderr
    assert "command group 'clash' (acme_clash:hello) would replace push; left out" in result.stderr
    assert "greet" not in result.stdout  # the whole group is refused, not half of it
    push = _modelport(site, "push", "--help")
    assert "Upload a model file" in push.stdout  # still the client's own push


def test_a_broken_group_is_reported_and_the_rest_still_work(tmp_path):
    site, _ = _greeter(tmp_path)
    _install(site, "acme_broken", ["broken = acme_not_installed:commands", "odd = not a target"])
    result = _modelport(site, "greet", "you")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello you"
    assert "command group 'broken' (entry point of acme_broken 1.0" in result.stderr
    assert "cannot be imported" in result.stderr
    assert "'odd' (entry point of acme_broken 1.0) is left out" in result.stderr


def test_the_command_line_names_no_server_module():
    """The CLI finds the server's commands by entry point; a module name in an
    ``import_module`` call would hide an arrow from import-linter."""
    server = {"api", "registry", "converters"}
    found = []
    for path in (ROOT / "clients").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                name in ("import_module", "__import__", "find_spec")
                and isinstance(first, ast.Constant)
                and str(first.value).split(".")[0] in server
            ):
                found.append(f"{path.name}:{node.lineno} {first.value}")
    assert found == []
