"""The ``modelport`` command line: a thin layer over :class:`clients.Registry`.

Exit codes: 0 success, 1 other error, 2 usage error, 3 registry unreachable,
4 not found, 5 invalid input or upload, 6 integrity (hash mismatch),
7 conversion failed or timed out waiting, 8 the registry needs a (write) token.
Errors print one line on stderr.
"""

from __future__ import annotations

import functools
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import typer.main
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from typer.core import TyperGroup

from clients._errors import WaitTimeout
from clients._export import LAYOUTS, export_kserve, export_triton, resolve_export
from clients._registry import Registry
from clients._render import (
    artifact_summary,
    live_targets,
    models_table,
    print_json,
    transfer_progress,
    version_details,
    versions_table,
)
from clients._types import VersionInfo
from runtime import ModelRef, parse_weights
from runtime.errors import (
    IntegrityError,
    InvalidUpload,
    ModelportError,
    RegistryUnavailable,
)
from runtime.plugins import PluginTable

__all__ = ["COMMAND_GROUP", "EXIT_CODES", "app", "main"]

#: Command groups other distributions (and modelport's own server side) add to
#: ``modelport``: each entry point of the group names a ``typer.Typer`` whose commands
#: join these. The server's ``serve``, ``serve-model``, ``worker`` and ``db`` come this
#: way from ``api.cli``, a module this package never imports (import-linter holds it).
COMMAND_GROUP = "modelport.commands"
COMMANDS: PluginTable[str] = PluginTable("command group", COMMAND_GROUP, {})


class _WithPluginCommands(TyperGroup):
    """The root command group: the client commands, and those of the plug-ins added the
    first time a name is not a client command or the list is asked for (help), so a
    client command never imports a plug-in's modules.

    A plug-in group that is broken, not a ``typer.Typer``, or names a command that
    exists is left out with a warning; every other command still works.
    """

    _plugins_added = False

    def _add_plugins(self) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        warn = Console(stderr=True, highlight=False, soft_wrap=True, markup=False).print
        for name, target in COMMANDS.targets().items():
            try:
                group = COMMANDS.resolve(name)
            except ModelportError as exc:
                warn(f"warning: {exc}")
                continue
            if not isinstance(group, typer.Typer):
                warn(f"warning: command group {name!r} ({target}) is not a typer.Typer; left out")
                continue
            built = typer.main.get_group(group).commands
            taken = sorted(set(built) & set(self.commands))
            if taken:
                warn(
                    f"warning: command group {name!r} ({target}) would replace "
                    f"{', '.join(taken)}; left out"
                )
                continue
            for command_name, command in built.items():
                self.add_command(command, command_name)

    def list_commands(self, ctx: Any) -> list[str]:
        self._add_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is None and not self._plugins_added:
            self._add_plugins()
            found = super().get_command(ctx, cmd_name)
        return found


app = typer.Typer(
    name="modelport",
    cls=_WithPluginCommands,
    help="modelport: push models to a registry, get validated portable artifacts back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_FAILED = 7
EXIT_AUTH = 8
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (PermissionError, EXIT_AUTH),  # Unauthorized, Forbidden
    (RegistryUnavailable, 3),
    (LookupError, 4),
    (IntegrityError, 6),
    (WaitTimeout, EXIT_FAILED),
    (ValueError, 5),
    (ModelportError, 1),
]

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class State:
    def __init__(self, url: str | None, token: str | None, quiet: bool) -> None:
        self.url = url
        self.token = token
        self.quiet = quiet
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

    def registry(self) -> Registry:
        return Registry(self.url, self.token)

    @property
    def show_progress(self) -> bool:
        return not self.quiet and self.err.is_terminal

    def note(self, text: str) -> None:
        if not self.quiet:
            self.err.print(text)


def _state(ctx: typer.Context) -> State:
    state = ctx.find_root().obj
    if not isinstance(state, State):  # a subcommand invoked without the root callback
        state = State(None, None, False)
        ctx.find_root().obj = state
    return state


def _fail(message: str, code: int) -> typer.Exit:
    sys.stdout.flush()
    one_line = " ".join(message.split())  # a multi-line server detail stays one line
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[red]error:[/red] {escape(one_line)}", markup=True
    )
    return typer.Exit(code)


def exit_code(exc: BaseException) -> int:
    """The process exit code for an error (see the module docstring)."""
    return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))


def handled(func: F) -> F:
    """Turn the project's errors into one line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ModelportError as exc:
            raise _fail(str(exc), exit_code(exc)) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option("--url", envvar="MODELPORT_URL", help="Registry URL.", show_default=False),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="MODELPORT_TOKEN", help="Bearer token.", show_default=False),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Global options (before the command): --url, --token, --quiet."""
    ctx.obj = State(url, token, quiet)


@app.command()
def token(as_json: JsonOpt = False) -> None:
    """Make a new random access token for a registry, and the line that configures it.

    Give the token to clients (MODELPORT_TOKEN, or the web UI's sign-in page); put the
    sha256 line in MODELPORT_WRITE_TOKENS or MODELPORT_READ_TOKENS on the server, so the
    server's configuration never holds the secret itself.
    """
    import hashlib
    import secrets

    value = secrets.token_urlsafe(32)
    entry = "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    if as_json:
        print_json({"token": value, "config": entry})
        return
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"token:  {value}")
    out.print(f"config: {entry}")
    Console(stderr=True, highlight=False).print(
        "give the token to clients as MODELPORT_TOKEN; append the config line to the "
        "server's MODELPORT_WRITE_TOKENS (or MODELPORT_READ_TOKENS), comma-separated"
    )


# -- models -----------------------------------------------------------------------------


def _parse_tags(tags: list[str]) -> dict[str, str] | None:
    if not tags:
        return None
    parsed: dict[str, str] = {}
    for item in tags:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidUpload(f"invalid tag {item!r}: write --tag key=value")
        parsed[key] = value
    return parsed


def _parse_options(items: list[str]) -> dict[str, Any] | None:
    if not items:
        return None
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidUpload(
                f"invalid option {item!r}: write --option key=JSON, "
                "e.g. --option 'input_shapes={\"x\": [null, 4]}'"
            )
        try:
            parsed[key] = json.loads(value)
        except ValueError:
            raise InvalidUpload(
                f"option {key!r} is not valid JSON ({value[:60]!r}); write --option key=JSON"
            ) from None
    return parsed


class _TargetPrinter:
    """Prints a line whenever a target's status changes while waiting."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.seen: dict[str, str] = {}
        self.status = ""

    def __call__(self, info: VersionInfo) -> None:
        if info.status != self.status:
            self.status = info.status
            self.state.note(f"{info.ref}: {info.status}")
        for art in info.artifacts:
            if art.format != "source" and self.seen.get(art.format) != art.status:
                self.seen[art.format] = art.status
                self.state.note(f"  {artifact_summary(art)}")


@app.command()
@handled
def push(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Model file or folder (a folder is zipped).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name.")],
    framework: Annotated[str | None, typer.Option(help="Source framework.")] = None,
    targets: Annotated[
        str | None, typer.Option(help="Comma list of formats, e.g. onnx,pmml.")
    ] = None,
    sample: Annotated[Path | None, typer.Option(help="Validation inputs (.npy/.npz).")] = None,
    description: Annotated[str | None, typer.Option(help="Version description.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="key=value, repeatable.")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help="Converter option key=JSON, repeatable, e.g. input_shapes='{\"x\": [null, 4]}'.",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for conversion to finish.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 600.0,
    as_json: JsonOpt = False,
) -> None:
    """Upload a model file as a new version of NAME."""
    state = _state(ctx)
    with (
        state.registry() as reg,
        transfer_progress(state.err, f"upload {file.name}", state.show_progress) as bar,
    ):
        result = reg.push(
            file,
            name,
            framework=framework,
            targets=targets,
            sample=sample,
            description=description,
            tags=_parse_tags(tag or []),
            options=_parse_options(option or []),
            progress=bar,
        )
    state.note(f"pushed {result.ref} ({result.status}, job {result.job_id})")
    if not wait:
        if as_json:
            print_json(result.to_dict())
        else:
            state.out.print(Text(result.ref))
        return
    with state.registry() as reg:
        if state.show_progress:
            with live_targets(state.err) as on_update:
                info = reg.wait(result.name, result.version, timeout, on_update=on_update)
        else:
            info = reg.wait(result.name, result.version, timeout, on_update=_TargetPrinter(state))
    if as_json:
        print_json(info.to_dict())
    else:
        state.out.print(Text(f"{info.ref} {info.status}"))
    if info.status != "ready":
        raise _fail(f"{info.ref} failed: {info.error or 'no artifact passed validation'}", 7)


@app.command("ls")
@handled
def list_(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="List the versions of this model.")] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="Search models by name or description.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List models, or the versions of NAME."""
    state = _state(ctx)
    with state.registry() as reg:
        if name is None:
            models = list(reg.models(query))
            if as_json:
                print_json([m.to_dict() for m in models])
            else:
                state.out.print(models_table(models))
            return
        versions = reg.versions(name)
    if as_json:
        print_json([v.to_dict() for v in versions])
    else:
        state.out.print(versions_table(versions))


@app.command()
@handled
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name:N, name:latest or name@alias.")],
    as_json: JsonOpt = False,
) -> None:
    """Show a version: status, signature, artifacts and their validation."""
    state = _state(ctx)
    with state.registry() as reg:
        info = reg.show(ref)
    if as_json:
        print_json(info.to_dict())
    else:
        version_details(state.out, info)


@app.command()
@handled
def pull(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name:N, name:latest or name@alias.")],
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="onnx, pmml, savedmodel or source.")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Folder (gets modelport.json too) or file.")
    ] = ".",
    as_json: JsonOpt = False,
) -> None:
    """Download an artifact, verified against its sha256."""
    state = _state(ctx)
    with (
        state.registry() as reg,
        transfer_progress(state.err, f"download {ref}", state.show_progress) as bar,
    ):
        path = reg.pull(ref, format, output, progress=bar)
    if as_json:
        print_json({"ref": ref, "path": str(path), "size": path.stat().st_size})
    else:
        state.out.print(Text(str(path)))


@app.command()
@handled
def alias(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="name:N to point at, or the name when splitting or deleting.")
    ],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias, e.g. production.")],
    weights: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[VERSION=PERCENT]...",
            help="A weighted split summing to 100, e.g. 3=90 4=10.",
            show_default=False,
        ),
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias instead.")] = False,
    note: Annotated[str | None, typer.Option("--note", help="Why (kept in the history).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Point ALIAS at a version (alias lin:3 production), split it between versions
    (alias lin production 3=90 4=10), or remove it (--delete lin production)."""
    state = _state(ctx)
    with state.registry() as reg:
        if delete:
            reg.delete_alias(target, alias_name, changed_by=_who(), note=note)
            if as_json:
                print_json({"name": target, "alias": alias_name, "deleted": True})
            else:
                state.out.print(Text(f"deleted {target}@{alias_name}"))
            return
        ref = ModelRef.parse(target)
        if weights:
            if ref.version is not None:
                raise _fail(f"with weights give the model name only: '{ref.name}'", 5)
            split = parse_weights(weights)
            info = reg.set_alias(
                ref.name, alias_name, weights=dict(split), changed_by=_who(), note=note
            )
        elif ref.version is None:
            raise _fail(
                f"alias needs an exact version: write '{ref.name}:N ALIAS' (e.g. {ref.name}:1), "
                f"or weights: '{ref.name} ALIAS 3=90 4=10'",
                5,
            )
        else:
            info = reg.set_alias(ref.name, alias_name, ref.version, changed_by=_who(), note=note)
    if as_json:
        print_json(info.to_dict())
    else:
        split_text = "  ".join(f"{v}: {w}%" for v, w in sorted(info.weights.items()))
        shown = str(info.version) if len(info.weights) <= 1 else "{" + split_text + "}"
        state.out.print(Text(f"{info.name}@{info.alias} -> {shown}"))


def _who() -> str | None:
    """The local user name, recorded as who changed an alias."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@app.command()
@handled
def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="name, name:N, name:latest or name@alias.")],
    out: Annotated[
        Path | None,
        typer.Argument(
            help="triton: the repository folder; kserve: the manifest file (else stdout)."
        ),
    ] = None,
    layout: Annotated[str, typer.Option("--layout", help="triton or kserve.")] = "triton",
    max_batch_size: Annotated[
        int, typer.Option("--max-batch-size", min=0, help="triton: batch bound (0: off).")
    ] = 64,
    service: Annotated[
        str | None, typer.Option("--service", help="kserve: the InferenceService name.")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="kserve: the namespace.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export for a serving engine: a Triton model repository (--layout triton OUT) or a
    KServe InferenceService manifest (--layout kserve [OUT]); a weighted alias exports
    its split (Triton: every version; KServe: a canary with canaryTrafficPercent)."""
    if layout not in LAYOUTS:
        raise _fail(f"unknown layout {layout!r}; use one of: {', '.join(LAYOUTS)}", 5)
    state = _state(ctx)
    with state.registry() as reg:
        exported = resolve_export(reg, ref)
        if layout == "kserve":
            text = export_kserve(reg, exported, out, service, namespace)
            if out is None:
                sys.stdout.write(text)
                return
            path = out
        else:
            if out is None:
                raise _fail("--layout triton needs OUT, the model repository folder", 5)
            path = export_triton(reg, exported, out, max_batch_size)
    versions = [info.version for info in exported.versions]
    if as_json:
        print_json({"ref": ref, "layout": layout, "path": str(path), "versions": versions})
    else:
        state.out.print(Text(f"{layout}: {path} ({exported.name} versions {versions})"))


@app.command()
@handled
def job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="Job id (push prints it).")],
    as_json: JsonOpt = False,
) -> None:
    """Show a conversion job: status, attempts, error, timings."""
    state = _state(ctx)
    with state.registry() as reg:
        info = reg.job(job_id)
    if as_json:
        print_json(info.to_dict())
        return
    state.out.print(
        Text(
            f"job {info.id}  {info.kind} {info.name}:{info.version}  {info.status}  "
            f"attempts {info.attempts}  created {info.created_at or '-'}  "
            f"started {info.started_at or '-'}  finished {info.finished_at or '-'}"
        )
    )
    if info.error:
        state.out.print(Text(f"error: {info.error}"))


def main() -> None:
    """Console-script entry point. A plug-in command's modelport error becomes one line
    on stderr and its exit code, as the client commands' errors do."""
    try:
        app()
    except ModelportError as exc:
        raise SystemExit(_fail(str(exc), exit_code(exc)).exit_code) from None


if __name__ == "__main__":  # pragma: no cover
    main()
