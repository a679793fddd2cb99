"""Human output of the CLI: tables, version details, progress bars."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from clients._multipart import Progress as ProgressCallback
from clients._types import ArtifactInfo, ModelInfo, VersionInfo

__all__ = [
    "artifact_summary",
    "live_targets",
    "models_table",
    "print_json",
    "transfer_progress",
    "version_details",
    "versions_table",
]


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout, exactly (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def artifact_summary(art: ArtifactInfo) -> str:
    """One line per target, e.g. ``onnx: passed, max abs diff 3e-07``."""
    text = f"{art.format}: {art.status}"
    diff = art.max_abs_diff
    if diff is not None:
        text += f", max abs diff {diff:.3g}"
    if art.error:
        text += f" ({art.error})"
    return text


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _row(table: Table, *cells: object) -> None:
    """Add a row of plain text: names, tags and shapes such as ``[batch, 4]`` are not markup."""
    table.add_row(*(Text(str(c)) for c in cells))


def models_table(models: Iterable[ModelInfo]) -> Table:
    table = Table(box=None, header_style="bold")
    for col in ("NAME", "LATEST", "VERSIONS", "ALIASES", "UPDATED", "DESCRIPTION"):
        table.add_column(col, overflow="fold")
    for m in models:
        aliases = ", ".join(f"{a}->{v}" for a, v in sorted(m.aliases.items()))
        _row(
            table,
            m.name,
            "-" if m.latest_version is None else str(m.latest_version),
            str(m.version_count),
            aliases or "-",
            m.updated_at.isoformat(sep=" ")[:19],
            m.description or "",
        )
    return table


def versions_table(versions: Iterable[VersionInfo]) -> Table:
    table = Table(box=None, header_style="bold")
    for col in ("VERSION", "STATUS", "FRAMEWORK", "ARTIFACTS", "ALIASES", "CREATED"):
        table.add_column(col, overflow="fold")
    for v in versions:
        arts = ", ".join(f"{a.format}:{a.status}" for a in v.artifacts if a.format != "source")
        _row(
            table,
            str(v.version),
            v.status,
            v.framework or "-",
            arts or "-",
            ", ".join(v.aliases) or "-",
            v.created_at.isoformat(sep=" ")[:19],
        )
    return table


def version_details(console: Console, v: VersionInfo) -> None:
    console.print(
        f"[bold]{escape(v.ref)}[/bold]  status: {escape(v.status)}  "
        f"framework: {escape(v.framework or '-')}"
    )
    if v.aliases:
        console.print(Text(f"aliases: {', '.join(v.aliases)}"))
    if v.description:
        console.print(Text(f"description: {v.description}"))
    if v.tags:
        console.print(Text("tags: " + ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items()))))
    src = v.source
    console.print(Text(f"source: {src.filename}  sha256 {src.sha256}  {_size(src.size)}"))
    if v.error:
        console.print(f"[red]error:[/red] {escape(v.error)}")
    sig = Table(title="signature", box=None, header_style="bold", title_justify="left")
    for col in ("", "NAME", "DTYPE", "SHAPE"):
        sig.add_column(col)
    for kind, specs in (("input", v.spec.inputs), ("output", v.spec.outputs)):
        for spec in specs:
            _row(sig, kind, spec.name, spec.dtype, spec.shape_text())
    if v.spec.inputs or v.spec.outputs:
        console.print(sig)
    arts = Table(title="artifacts", box=None, header_style="bold", title_justify="left")
    for col in ("FORMAT", "STATUS", "SIZE", "SHA256", "VALIDATION"):
        arts.add_column(col, overflow="fold")
    for a in v.artifacts:
        diff = a.max_abs_diff
        note = f"max abs diff {diff:.3g}" if diff is not None else (a.error or "")
        _row(arts, a.format, a.status, _size(a.size), (a.sha256 or "-")[:16], note)
    console.print(arts)


def _wait_view(info: VersionInfo | None, started: float) -> Group:
    elapsed = time.monotonic() - started
    if info is None:
        return Group(Spinner("dots", text=Text(f"waiting ({elapsed:.0f} s)")))
    head = Text(f"{info.ref}: {info.status} ({elapsed:.0f} s)")
    lines: list[RenderableType] = [head if info.done else Spinner("dots", text=head)]
    lines += [Text(f"  {artifact_summary(a)}") for a in info.artifacts if a.format != "source"]
    return Group(*lines)


@contextmanager
def live_targets(console: Console) -> Iterator[Callable[[VersionInfo], None]]:
    """A live, in-place view of a version's targets while waiting for conversion."""
    started = time.monotonic()
    with Live(_wait_view(None, started), console=console, refresh_per_second=8) as live:

        def update(info: VersionInfo) -> None:
            live.update(_wait_view(info, started))

        yield update


@contextmanager
def transfer_progress(
    console: Console, description: str, enabled: bool
) -> Iterator[ProgressCallback | None]:
    """A rich progress bar for an upload or download, or ``None`` when disabled."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update
