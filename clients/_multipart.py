"""A streaming ``multipart/form-data`` body: files are read in chunks, never whole.

The body's length is known in advance (so the server can refuse an oversized
upload from the ``Content-Length`` alone), and a callback hears about every
chunk sent, which drives progress bars.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHUNK_SIZE", "FilePart", "MultipartBody", "Progress"]

CHUNK_SIZE = 1 << 20

# Progress callback: (bytes done so far, total bytes or None when unknown).
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class FilePart:
    """A file form field: sent under ``filename``, read from ``path``."""

    path: Path
    filename: str
    content_type: str = "application/octet-stream"


def _quote(value: str) -> str:
    # RFC 7578: quotes, backslashes and line breaks in names are percent-escaped.
    return value.replace("\\", "%5C").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody:
    """An iterable request body with its headers.

    ``fields`` are plain text fields, ``files`` file fields; ``None`` values are
    left out. Iterate it once per request.
    """

    def __init__(
        self,
        fields: dict[str, str | None],
        files: dict[str, FilePart | None],
        progress: Progress | None = None,
    ) -> None:
        self.boundary = secrets.token_hex(16)
        self.progress = progress
        self._parts: list[tuple[bytes, FilePart | bytes]] = []
        for key, value in fields.items():
            if value is not None:
                self._parts.append((self._header(key, None, None), value.encode()))
        for key, part in files.items():
            if part is not None:
                self._parts.append((self._header(key, part.filename, part.content_type), part))
        self._closing = f"--{self.boundary}--\r\n".encode()

    def _header(self, name: str, filename: str | None, content_type: str | None) -> bytes:
        disposition = f'form-data; name="{_quote(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote(filename)}"'
        lines = [f"--{self.boundary}", f"Content-Disposition: {disposition}"]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def file_bytes(self) -> int:
        """Total size of the file parts (what a progress bar counts)."""
        return sum(os.stat(p.path).st_size for _, p in self._parts if isinstance(p, FilePart))

    def __len__(self) -> int:
        total = len(self._closing)
        for header, payload in self._parts:
            size = os.stat(payload.path).st_size if isinstance(payload, FilePart) else len(payload)
            total += len(header) + size + 2
        return total

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-Length": str(len(self))}

    def __iter__(self) -> Iterator[bytes]:
        total = self.file_bytes
        done = 0
        if self.progress is not None:
            self.progress(0, total)
        for header, payload in self._parts:
            yield header
            if isinstance(payload, FilePart):
                with open(payload.path, "rb") as fh:
                    while chunk := fh.read(CHUNK_SIZE):
                        done += len(chunk)
                        yield chunk
                        if self.progress is not None:
                            self.progress(done, total)
            else:
                yield payload
            yield b"\r\n"
        yield self._closing
